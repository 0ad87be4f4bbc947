//! The signal listener: the first signal triggers, a second one exits.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use crate::{Reason, Shutdown, Signal};

impl Signal {
    fn kind(self) -> SignalKind {
        SignalKind::from_raw(self.number())
    }
}

/// Installs a handler for each signal and spawns the tasks that listen.
///
/// Must run inside a tokio runtime.
pub(crate) fn listen(
    shutdown: &Shutdown,
    signals: &[Signal],
    second_exits: bool,
) -> io::Result<()> {
    let mut streams = Vec::with_capacity(signals.len());
    for &sig in signals {
        streams.push((sig, signal(sig.kind())?));
    }
    for (sig, mut stream) in streams {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if shutdown.trigger_with(Reason::Signal(sig)) {
                    info!(target: "winddown", signal = sig.name(), "received {sig}: shutting down");
                } else if second_exits {
                    let code = sig.forced_exit_code();
                    error!(
                        target: "winddown",
                        signal = sig.name(),
                        exit_code = code,
                        "received {sig} while shutting down ({}): exiting now with {code}",
                        shutdown.state()
                    );
                    eprintln!(
                        "winddown: second signal ({sig}) while shutting down: forced exit {code}"
                    );
                    std::process::exit(code);
                } else {
                    info!(target: "winddown", signal = sig.name(), "received {sig} again: already shutting down");
                }
            }
        });
    }
    Ok(())
}
