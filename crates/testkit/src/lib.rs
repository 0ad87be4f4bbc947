//! What the winddown test suites share (not published): a capture of what
//! was logged through `tracing`, and a cleanup hook that holds a shutdown
//! in cleanup until released.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber, span};

use tokio::sync::oneshot;
use winddown_core::Shutdown;

/// Collects what a subscriber built with [`subscriber`](Self::subscriber)
/// logs: plain text, without colours or times. Clones share the text.
///
/// ```
/// let logs = winddown_testkit::LogCapture::default();
/// tracing::subscriber::with_default(logs.subscriber(), || {
///     tracing::info!("hello");
/// });
/// assert!(logs.text().contains("INFO"));
/// assert!(logs.text().contains("hello"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A subscriber writing into this capture.
    ///
    /// It sees every event of the thread it is the default of, whatever
    /// other tests of the same process do at the same time: see
    /// [`keep_callsites_open`].
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        keep_callsites_open();
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish()
    }

    /// Everything logged so far.
    ///
    /// # Panics
    ///
    /// If what was logged is not UTF-8 (`tracing`'s text never is).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8(bytes.clone()).expect("the logs are UTF-8")
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Registers a cleanup hook named `hold` that keeps `shutdown` in cleanup
/// until the returned sender is used or dropped.
///
/// # Panics
///
/// Once `shutdown` has been triggered (no hook can be registered then).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use winddown_core::{Shutdown, State};
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let release = winddown_testkit::hold_in_cleanup(&shutdown);
/// shutdown.trigger();
/// let run = tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
/// shutdown.cleanup_started().await;
/// assert_eq!(shutdown.state(), State::Cleanup);
/// release.send(()).unwrap();
/// assert_eq!(run.await.unwrap().exit_code(), 0);
/// # }
/// ```
pub fn hold_in_cleanup(shutdown: &Shutdown) -> oneshot::Sender<()> {
    let (release, released) = oneshot::channel::<()>();
    shutdown
        .on_cleanup("hold", |_| async move {
            let _ = released.await;
            Ok(())
        })
        .expect("hooks are registered before the trigger");
    release
}

/// Keeps two inert dispatchers registered for the rest of the process, so
/// that a capture installed on one thread (`with_default`) gets the events
/// of its callsites even when another thread, without a subscriber, reaches
/// such a callsite first.
///
/// `tracing` decides once per callsite, for the whole process, whether any
/// subscriber may want its events. While exactly one dispatcher is
/// registered it asks only the default of the thread that reaches the
/// callsite first: a test thread without a subscriber then switches the
/// callsite off for every thread, a capturing one included, and the capture
/// misses the event. With two more dispatchers registered, each answering
/// "maybe, ask me each time", the question goes to every registered
/// dispatcher and a callsite is never switched off; each event is then
/// offered to the default subscriber of the thread that emits it, as usual.
///
/// ```
/// // Called by `LogCapture::subscriber`; idempotent.
/// winddown_testkit::keep_callsites_open();
/// winddown_testkit::keep_callsites_open();
/// tracing::info!("no subscriber on this thread: nothing to see");
/// ```
pub fn keep_callsites_open() {
    static ANCHORS: OnceLock<[Dispatch; 2]> = OnceLock::new();
    ANCHORS.get_or_init(|| [Dispatch::new(Inert), Dispatch::new(Inert)]);
}

/// A subscriber that wants nothing but keeps every callsite asking.
struct Inert;

impl Subscriber for Inert {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}
