//! A capture sees the events of a callsite that another thread, without a
//! subscriber, reached first. In a process of its own: no other test may
//! register a dispatcher or a callsite first.

use winddown_testkit::LogCapture;

/// The callsite both threads reach.
fn log_once() {
    tracing::info!("seen by the capture");
}

#[test]
fn a_callsite_first_reached_without_a_subscriber_still_reaches_the_capture() {
    let logs = LogCapture::default();
    // The capture's dispatcher is registered (as `with_default` does) before
    // the other thread reaches the callsite.
    let dispatch = tracing::Dispatch::new(logs.subscriber());
    std::thread::spawn(log_once).join().unwrap();
    tracing::dispatcher::with_default(&dispatch, log_once);
    let text = logs.text();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.contains("seen by the capture"), "{text}");
}
