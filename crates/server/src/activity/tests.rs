//! The activity record's timing and the HTTP/2 preface matcher.

use super::*;

/// Feeds `chunks` to the preface matcher; whether it completed.
fn complete(chunks: &[&[u8]]) -> bool {
    let mut matched = 0;
    for chunk in chunks {
        match advance(matched, chunk) {
            Preface::Partial(n) => matched = n,
            Preface::Complete => return true,
            Preface::NotHttp2 => return false,
        }
    }
    false
}

const S: Duration = Duration::from_secs(1);
const IDLE: Option<Duration> = Some(Duration::from_secs(10));

/// A connection with one request that ended `ended_after` after the
/// accept; its activity and the accept's instant.
async fn one_request(ended_after: Duration) -> (Activity, Instant) {
    let activity = Activity::new(Arc::default(), 0, Shutdown::builder().no_signals().build());
    let born = activity.born;
    let _request = activity.request_started(Version::HTTP_11);
    tokio::time::advance(ended_after).await;
    activity.request_ended();
    (activity, born)
}

#[tokio::test(start_paused = true)]
async fn the_write_after_a_request_times_its_end() {
    let (activity, born) = one_request(2 * S).await;
    tokio::time::advance(S).await;
    activity.wrote();
    tokio::time::advance(4 * S).await;
    // Idle from the write that sent the response (3 s), not from the
    // later looks at it.
    assert_eq!(
        activity.close_check(None, IDLE),
        CloseCheck::At(born + 13 * S)
    );
    assert_eq!(activity.idle_since(), Some(born + 3 * S));
    assert_eq!(activity.idle_for(), Some(4 * S));
}

#[tokio::test(start_paused = true)]
async fn without_a_write_the_first_look_times_the_end_never_earlier() {
    let (activity, born) = one_request(2 * S).await;
    tokio::time::advance(3 * S).await;
    // Nothing written since the end (2 s): idle from this look (5 s).
    assert_eq!(
        activity.close_check(None, IDLE),
        CloseCheck::At(born + 15 * S)
    );
    tokio::time::advance(S).await;
    // The time is kept: later looks and writes do not move it back.
    assert_eq!(activity.idle_since(), Some(born + 5 * S));
    activity.wrote();
    assert_eq!(activity.idle_since(), Some(born + 6 * S));
    assert_eq!(
        activity.close_check(None, IDLE),
        CloseCheck::At(born + 15 * S)
    );
    tokio::time::advance(10 * S).await;
    assert_eq!(
        activity.close_check(None, IDLE),
        CloseCheck::Close(CloseReason::Idle)
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_in_progress_is_never_idle() {
    let activity = Activity::new(Arc::default(), 0, Shutdown::builder().no_signals().build());
    let _request = activity.request_started(Version::HTTP_11);
    tokio::time::advance(60 * S).await;
    activity.wrote();
    assert_eq!(activity.idle_since(), None);
    assert_eq!(activity.idle_for(), None);
    assert_eq!(
        activity.close_check(None, IDLE),
        CloseCheck::At(Instant::now() + 10 * S)
    );
}

#[test]
fn the_preface_is_recognised_in_any_split() {
    assert!(complete(&[PREFACE]));
    assert!(complete(&[&PREFACE[..3], &PREFACE[3..20], &PREFACE[20..]]));
    let mut with_settings = PREFACE.to_vec();
    with_settings.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    assert!(complete(&[&with_settings]));
    assert!(!complete(&[&PREFACE[..23]]));
    assert!(!complete(&[b"GET / HTTP/1.1\r\n\r\n"]));
    assert!(!complete(&[b"PRI * HTTP/1.1"]));
}
