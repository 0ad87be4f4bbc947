//! Off Unix: Ctrl+C through `tokio::signal::ctrl_c`; other signals do not
//! exist and are skipped.

use std::io;

use tracing::debug;

use super::Signal;

/// A stream of Ctrl+C presses.
pub(super) struct Stream;

impl Stream {
    /// Waits for the next Ctrl+C; `false` if it cannot be listened to.
    pub(super) async fn recv(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Installs the handler for `sig` where the platform has one.
pub(super) fn listen_one(sig: Signal) -> io::Result<Option<Stream>> {
    match sig {
        Signal::Interrupt => Ok(Some(Stream)),
        other => {
            debug!(target: "winddown", signal = other.name(), "{other} does not exist on this platform: not listened to");
            Ok(None)
        }
    }
}
