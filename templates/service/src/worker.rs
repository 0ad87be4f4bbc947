//! A background worker, as an example of a component with its own cleanup.
//!
//! Jobs come in through [`Jobs::submit`] (the `POST /jobs` route) and are
//! processed one at a time by a task. On shutdown its hook runs in
//! [`Phase::FINISH_WORK`], after the HTTP drain: it stops intake (new jobs
//! are refused), lets the worker finish every job already queued, and fails
//! naming the jobs left over if the hook's deadline comes first. Your own
//! components plug in the same way: implement [`ShutdownHook`], pick a
//! phase, register it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc};
use tokio::task::JoinHandle;
use winddown::{BoxError, HookContext, Phase, Shutdown, ShutdownHook};

/// How many jobs may wait in the queue.
const QUEUE_CAPACITY: usize = 1024;

/// A unit of background work.
#[derive(Debug)]
struct Job {
    id: u64,
    /// How long processing it takes (a stand-in for real work).
    duration: Duration,
}

/// The intake side: cheap to clone, shared with the HTTP handlers.
#[derive(Debug, Clone)]
pub struct Jobs {
    tx: mpsc::Sender<Job>,
    next_id: Arc<AtomicU64>,
    /// The ids still queued or in progress, for the shutdown report.
    pending: Arc<Mutex<Vec<u64>>>,
}

/// Why a job was not accepted.
#[derive(Debug)]
pub enum Refused {
    /// Shutdown has begun: intake is closed.
    ShuttingDown,
    /// The queue is full.
    Full,
}

impl Jobs {
    /// Queues a job that takes `duration` and returns its id.
    pub async fn submit(&self, duration: Duration) -> Result<u64, Refused> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let permit = self.tx.try_reserve().map_err(|error| match error {
            mpsc::error::TrySendError::Closed(()) => Refused::ShuttingDown,
            mpsc::error::TrySendError::Full(()) => Refused::Full,
        })?;
        self.pending.lock().await.push(id);
        permit.send(Job { id, duration });
        Ok(id)
    }
}

/// Starts the worker task and registers its shutdown hook.
pub fn start(shutdown: &Shutdown) -> Jobs {
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let pending = Arc::new(Mutex::new(Vec::new()));
    let stop_intake = Arc::new(Notify::new());
    let task = tokio::spawn(run(rx, Arc::clone(&pending), Arc::clone(&stop_intake)));
    shutdown
        .register(WorkerHook {
            task,
            stop_intake,
            pending: Arc::clone(&pending),
        })
        .expect("hooks are registered before shutdown can begin");
    Jobs {
        tx,
        next_id: Arc::new(AtomicU64::new(1)),
        pending,
    }
}

/// The worker loop: processes jobs until intake is closed and the queue is
/// empty; returns how many it processed.
async fn run(
    mut rx: mpsc::Receiver<Job>,
    pending: Arc<Mutex<Vec<u64>>>,
    stop_intake: Arc<Notify>,
) -> u64 {
    let mut processed = 0;
    let mut intake_open = true;
    loop {
        let job = tokio::select! {
            // Closing the receiver refuses new jobs; the queued ones still
            // come out of `recv`, then it returns `None`.
            () = stop_intake.notified(), if intake_open => {
                rx.close();
                intake_open = false;
                continue;
            }
            job = rx.recv() => match job {
                Some(job) => job,
                None => return processed,
            },
        };
        tokio::time::sleep(job.duration).await;
        pending.lock().await.retain(|&id| id != job.id);
        processed += 1;
        tracing::info!(job = job.id, "job done");
    }
}

/// Stops intake, then waits for the queued jobs to be processed.
struct WorkerHook {
    task: JoinHandle<u64>,
    stop_intake: Arc<Notify>,
    pending: Arc<Mutex<Vec<u64>>>,
}

impl ShutdownHook for WorkerHook {
    fn name(&self) -> &str {
        "job-worker"
    }

    fn phase(&self) -> Phase {
        Phase::FINISH_WORK
    }

    async fn shutdown(self, ctx: HookContext) -> Result<(), BoxError> {
        self.stop_intake.notify_one();
        let queued = self.pending.lock().await.len();
        tracing::info!(queued, "worker: intake stopped, finishing queued jobs");
        match ctx.with_deadline(self.task).await {
            Some(Ok(processed)) => {
                tracing::info!(processed, "worker: all jobs done");
                Ok(())
            }
            Some(Err(join)) => Err(format!("worker task failed: {join}").into()),
            None => {
                let left = self.pending.lock().await.clone();
                Err(format!("deadline reached with jobs unprocessed: {left:?}").into())
            }
        }
    }
}
