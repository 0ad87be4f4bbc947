//! Unix signals through `tokio::signal::unix`.

use std::io;

use tokio::signal::unix::{SignalKind, signal};

use super::Signal;

/// A stream of one signal's arrivals.
pub(super) struct Stream(tokio::signal::unix::Signal);

impl Stream {
    /// Waits for the next arrival; `false` once no more can come.
    pub(super) async fn recv(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// Installs the handler for `sig`.
pub(super) fn listen_one(sig: Signal) -> io::Result<Option<Stream>> {
    signal(SignalKind::from_raw(sig.number())).map(|s| Some(Stream(s)))
}
