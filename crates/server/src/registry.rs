//! The open connections, as the accept loop sees them: when it needs room
//! (at the connection limit, or out of file descriptors) it closes the
//! connections that have been idle the longest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use winddown_core::Shutdown;

use crate::activity::{Activity, IdleWatch};

/// A connection idle for less than this is not closed to make room: a
/// client that has just connected (or just got a response) may be writing
/// a request the server has not read yet.
pub(crate) const MIN_IDLE_TO_EVICT: Duration = Duration::from_millis(250);

/// What [`Registry::room`] found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room {
    /// Connections on their way out, or idle long enough to be asked to.
    pub(crate) available: usize,
    /// When the next idle connection will have been idle long enough.
    pub(crate) next_at: Option<Instant>,
}

/// Every open connection's [`Activity`], by id.
#[derive(Debug)]
pub(crate) struct Registry {
    connections: Mutex<Connections>,
    next_id: AtomicU64,
    idle_watch: Arc<IdleWatch>,
    shutdown: Shutdown,
}

#[derive(Debug, Default)]
struct Connections {
    by_id: HashMap<u64, Arc<Activity>>,
    /// The events [broadcast](Registry::broadcast) so far: a connection
    /// registered later starts with them.
    events: u8,
}

impl Registry {
    /// The registry of a server following `shutdown`.
    pub(crate) fn new(shutdown: Shutdown) -> Self {
        Registry {
            connections: Mutex::default(),
            next_id: AtomicU64::new(0),
            idle_watch: Arc::default(),
            shutdown,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection's activity, and its entry (removed when dropped).
    pub(crate) fn register(self: &Arc<Self>) -> (Arc<Activity>, Entry) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.lock();
        let activity = Arc::new(Activity::new(
            self.idle_watch.clone(),
            connections.events,
            self.shutdown.clone(),
        ));
        connections.by_id.insert(id, activity.clone());
        drop(connections);
        let entry = Entry {
            registry: self.clone(),
            id,
        };
        (activity, entry)
    }

    /// Signals `events` to every connection, now and to come.
    pub(crate) fn broadcast(&self, events: u8) {
        let mut connections = self.lock();
        connections.events |= events;
        for activity in connections.by_id.values() {
            activity.signal(events);
        }
    }

    /// Wake-ups for connections going idle.
    pub(crate) fn idle_watch(&self) -> &IdleWatch {
        &self.idle_watch
    }

    /// How many connections could be made to leave now (those already
    /// asked, and those idle for at least [`MIN_IDLE_TO_EVICT`]), and when
    /// the next one becomes eligible.
    pub(crate) fn room(&self) -> Room {
        self.scan(0)
    }

    /// Makes sure `needed` connections are on their way out: those already
    /// asked to close count, and the connections idle the longest (for at
    /// least [`MIN_IDLE_TO_EVICT`]) are asked for the rest. Never touches a
    /// connection with a request in progress.
    pub(crate) fn make_room(&self, needed: usize) -> Room {
        self.scan(needed)
    }

    fn scan(&self, needed: usize) -> Room {
        let connections = self.lock();
        let connections = &connections.by_id;
        let leaving = connections.values().filter(|a| a.is_evicted()).count();
        let now = Instant::now();
        let mut idle: Vec<_> = connections
            .values()
            .filter_map(|a| Some((a.idle_since()?, a)))
            .collect();
        idle.sort_by_key(|(since, _)| *since);
        let eligible = idle
            .iter()
            .take_while(|(since, _)| now.saturating_duration_since(*since) >= MIN_IDLE_TO_EVICT)
            .count();
        for (_, activity) in idle
            .iter()
            .take(needed.saturating_sub(leaving).min(eligible))
        {
            activity.evict();
        }
        Room {
            available: leaving + eligible,
            next_at: idle
                .get(eligible)
                .and_then(|(since, _)| since.checked_add(MIN_IDLE_TO_EVICT)),
        }
    }
}

/// A connection's place in the [`Registry`], given up when dropped.
#[derive(Debug)]
pub(crate) struct Entry {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.registry.lock().by_id.remove(&self.id);
    }
}
