//! Socket activation: the listening socket the service manager passes
//! (sd_listen_fds(3)).

use std::io;
use std::net::TcpListener;

/// The listening TCP socket the service manager passed to this process
/// (systemd socket activation: `LISTEN_FDS` and `LISTEN_PID`, see
/// sd_listen_fds(3)), ready for `tokio::net::TcpListener::from_std`
/// (non-blocking, close-on-exec); `Ok(None)` when none was passed.
///
/// With the socket held by the service manager, connections that arrive
/// while the service restarts wait in the kernel's backlog instead of being
/// refused. Serve it with a server that leaves that backlog to the next
/// process (`winddown_server::Server::listener_outlives_process`).
///
/// The first passed descriptor is used; the others are left open. It reads
/// `LISTEN_FDS`, `LISTEN_PID` (when set, it must be this process's id) and
/// `LISTEN_FDS_FIRST_FD` (default 3), then removes `LISTEN_FDS` and
/// `LISTEN_PID` from the environment so that child processes do not take
/// the socket for theirs: call it once, at start-up, before other threads
/// read the environment.
///
/// # Errors
///
/// When the passed descriptor is not a TCP socket (a `ListenStream=` of an
/// IP address in the `.socket` unit is expected), naming the descriptor.
///
/// # Examples
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let listener = match winddown_systemd::tcp_listener_from_env()? {
///     Some(inherited) => tokio::net::TcpListener::from_std(inherited)?,
///     None => tokio::net::TcpListener::bind("127.0.0.1:8080").await?,
/// };
/// # drop(listener);
/// # Ok(())
/// # }
/// ```
pub fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
    imp::tcp_listener_from_env()
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::net::TcpListener;

    use tracing::warn;

    pub(super) fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
        let mut fds = listenfd::ListenFd::from_env();
        if fds.len() > 1 {
            warn!(
                target: "winddown",
                passed = fds.len(),
                "socket activation: more than one descriptor passed; serving on the first"
            );
        }
        let listener = fds.take_tcp_listener(0).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket activation (LISTEN_FDS): the first passed descriptor cannot be served: \
                     {error}; expected a TCP listening socket (ListenStream= with an address or \
                     a port)"
                ),
            )
        })?;
        let Some(listener) = listener else {
            return Ok(None);
        };
        listener.set_nonblocking(true)?;
        Ok(Some(listener))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;
    use std::net::TcpListener;

    pub(super) fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
        Ok(None)
    }
}
