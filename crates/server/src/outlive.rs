//! Serving on a listening socket that outlives the process: systemd socket
//! activation, a hand-off to a new process.

use winddown_core::{Reason, Shutdown, State};

use crate::Server;

impl Server {
    /// Settings for a listening socket that another process also holds and
    /// keeps open after this one exits (systemd socket activation, see
    /// `winddown_systemd::tcp_listener_from_env`): connections that arrive
    /// while the service restarts then wait in the kernel's backlog for the
    /// next instance instead of being refused or answered `503`.
    ///
    /// The listener stops accepting at the trigger
    /// ([`stop_accepting_at`](Self::stop_accepting_at)`(State::Announcing)`)
    /// and the connections queued then are left to the next process
    /// ([`leave_backlog`](Self::leave_backlog)). Connections accepted
    /// before the trigger are served as usual: requests that arrive while
    /// announcing are answered (HTTP/1 with `Connection: close`, so clients
    /// reconnect, to the backlog), so give the shutdown an announce delay
    /// long enough for a client that has just connected to send its request
    /// (a second is plenty on one machine). Probes and `/metrics` are not
    /// reachable on new connections from the trigger on.
    ///
    /// A shutdown whose reason is a hand-off to a new process
    /// ([`Reason::HandedOff`], see `winddown_systemd::handoff`) is served
    /// this way whatever the settings: the new process holds the socket.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).listener_outlives_process();
    /// # drop(server);
    /// ```
    pub fn listener_outlives_process(self) -> Self {
        self.stop_accepting_at(State::Announcing)
            .leave_backlog(true)
    }

    /// Whether the connections the kernel has queued when the listener
    /// stops accepting are left in the backlog (`true`) or taken and
    /// served before the listener closes (`false`, the default: with
    /// nobody else holding the socket, they would otherwise be reset).
    /// Leave them only when another process holds the socket and will
    /// accept them; see
    /// [`listener_outlives_process`](Self::listener_outlives_process).
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown)
    ///     .stop_accepting_at(State::Draining)
    ///     .leave_backlog(true);
    /// # drop(server);
    /// ```
    pub fn leave_backlog(mut self, leave: bool) -> Self {
        self.leave_backlog = leave;
        self
    }
}

/// Resolves when the listener stops accepting: at `stop_at`, or at the
/// trigger when the shutdown is a hand-off to a new process that accepts on
/// the same socket.
pub(crate) async fn stop_accepting(shutdown: Shutdown, stop_at: State) {
    shutdown.triggered().await;
    if !handed_off(&shutdown) {
        shutdown.reached(stop_at).await;
    }
}

/// Whether the shutdown was triggered by a hand-off to a new process.
pub(crate) fn handed_off(shutdown: &Shutdown) -> bool {
    matches!(shutdown.reason(), Some(Reason::HandedOff { .. }))
}
