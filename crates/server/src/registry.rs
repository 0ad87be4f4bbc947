//! The open connections, as the accept loop sees them: when it needs room
//! (at the connection limit, or out of file descriptors) it closes the
//! connections that have been idle the longest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::activity::{Activity, IdleWatch};

/// Every open connection's [`Activity`], by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    idle_watch: Arc<IdleWatch>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection's activity, and its entry (removed when dropped).
    pub(crate) fn register(self: &Arc<Self>) -> (Arc<Activity>, Entry) {
        let activity = Arc::new(Activity::new(self.idle_watch.clone()));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, activity.clone());
        let entry = Entry {
            registry: self.clone(),
            id,
        };
        (activity, entry)
    }

    /// Wake-ups for connections going idle.
    pub(crate) fn idle_watch(&self) -> &IdleWatch {
        &self.idle_watch
    }

    /// Makes sure `needed` connections are on their way out: those already
    /// asked to close count, and the idle connections idle the longest are
    /// asked for the rest. Returns how many are on their way out (fewer
    /// than `needed` when not enough are idle). Never touches a connection
    /// with a request in progress.
    pub(crate) fn make_room(&self, needed: usize) -> usize {
        let connections = self.lock();
        let leaving = connections.values().filter(|a| a.is_evicted()).count();
        if leaving >= needed {
            return leaving;
        }
        let mut idle: Vec<_> = connections
            .values()
            .filter_map(|a| Some((a.idle_since()?, a)))
            .collect();
        idle.sort_by_key(|(since, _)| *since);
        let asked = idle
            .iter()
            .take(needed - leaving)
            .map(|(_, activity)| activity.evict())
            .count();
        leaving + asked
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
        self.registry.lock().remove(&self.id);
    }
}
