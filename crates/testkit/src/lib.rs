//! What the winddown test suites share (not published): a capture of what
//! was logged through `tracing`, and a cleanup hook that holds a shutdown
//! in cleanup until released.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

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
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
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
