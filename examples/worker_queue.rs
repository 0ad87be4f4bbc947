//! Run with `cargo run --example worker_queue`, then press Ctrl+C (or send SIGTERM).
//!
//! Environment: `JOBS` (how many jobs the producer enqueues, default 1000),
//! `WORKERS` (default 4), `JOB_MS` (how long one job takes, default 50),
//! `ENQUEUE_MS` (pause between two enqueued jobs, default 10) and
//! `HOOK_TIMEOUT_MS` (how long the queue may take to drain, default 5000).
//!
//! A producer feeds a shared queue and `WORKERS` tokio tasks process it. On
//! SIGTERM or SIGINT the hooks run in phase order:
//!
//! 1. `stop-intake` (stop_intake): the producer stops; nothing new is enqueued.
//! 2. `drain-queue` (finish_work): waits with `HookContext::wait` until the
//!    queue is empty and no job is running. Its bool says whether that
//!    happened before the hook's deadline; if not, the hook fails and says how
//!    many jobs are left.
//! 3. `join-workers` (finish_work): stops the workers and joins them. A job
//!    cut in the middle is not processed.
//!
//! Every enqueued job ends up in exactly one of two places: a
//! `processed job N` line, or the final `unprocessed jobs: [..]` line. None is
//! silently dropped. Progress lines (`cleanup 1/3 done (0.012s)`) go to
//! stderr; the job lines and the report go to stdout. The exit code is 0 when
//! the queue drained in time, 1 when it did not.

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use winddown::{CancellationToken, Phase, Shutdown, hook_fn};

use crate::support::env_u64;

/// The queue and the bookkeeping that makes every job accountable.
#[derive(Default)]
struct Jobs {
    /// Enqueued, not yet taken by a worker.
    queue: VecDeque<u64>,
    /// Enqueued and not processed: the source of the unprocessed list.
    pending: BTreeSet<u64>,
    /// Taken by a worker and not finished.
    running: usize,
    /// Set when the unprocessed list is printed: nothing is processed after.
    closed: bool,
}

#[derive(Clone, Default)]
struct Queue {
    jobs: Arc<Mutex<Jobs>>,
    ready: Arc<Notify>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, id: u64) {
        let mut jobs = self.lock();
        jobs.queue.push_back(id);
        jobs.pending.insert(id);
        // Printed under the lock so that the lines follow the queue's order.
        println!("enqueued job {id}");
        drop(jobs);
        self.ready.notify_one();
    }

    fn take(&self) -> Option<u64> {
        let mut jobs = self.lock();
        let id = jobs.queue.pop_front()?;
        jobs.running += 1;
        Some(id)
    }

    fn finish(&self, id: u64) {
        let mut jobs = self.lock();
        jobs.running -= 1;
        if !jobs.closed {
            jobs.pending.remove(&id);
            println!("processed job {id}");
        }
    }

    fn cut(&self, id: u64) {
        let mut jobs = self.lock();
        jobs.running -= 1;
        jobs.queue.push_front(id);
    }

    /// Jobs queued or running.
    fn left(&self) -> usize {
        let jobs = self.lock();
        jobs.queue.len() + jobs.running
    }

    /// Closes the books: the jobs that were enqueued and never processed.
    fn close(&self) -> Vec<u64> {
        let mut jobs = self.lock();
        jobs.closed = true;
        jobs.pending.iter().copied().collect()
    }
}

async fn produce(queue: Queue, jobs: u64, every: Duration, stop: CancellationToken) -> u64 {
    let mut enqueued = 0;
    for id in 1..=jobs {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        queue.push(id);
        enqueued += 1;
    }
    enqueued
}

async fn work(queue: Queue, job_time: Duration, stop: CancellationToken) {
    loop {
        let id = loop {
            if let Some(id) = queue.take() {
                break id;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = queue.ready.notified() => {}
            }
        };
        tokio::select! {
            () = tokio::time::sleep(job_time) => queue.finish(id),
            () = stop.cancelled() => {
                queue.cut(id);
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let jobs = env_u64("JOBS", 1000);
    let workers = env_u64("WORKERS", 4);
    let job_time = Duration::from_millis(env_u64("JOB_MS", 50));
    let every = Duration::from_millis(env_u64("ENQUEUE_MS", 10));
    let hook_timeout = Duration::from_millis(env_u64("HOOK_TIMEOUT_MS", 5000));

    let shutdown = Shutdown::builder()
        .hook_timeout(Duration::from_secs(2))
        .timeout(hook_timeout + Duration::from_secs(10))
        .build();
    let queue = Queue::default();
    let stop_intake = CancellationToken::new();
    let stop_workers = CancellationToken::new();

    let producer = tokio::spawn(produce(queue.clone(), jobs, every, stop_intake.clone()));
    let handles: Vec<JoinHandle<()>> = (0..workers)
        .map(|_| tokio::spawn(work(queue.clone(), job_time, stop_workers.clone())))
        .collect();

    shutdown
        .register(
            hook_fn("stop-intake", move |_ctx| async move {
                stop_intake.cancel();
                let enqueued = producer.await?;
                println!("intake stopped: {enqueued} jobs enqueued");
                Ok(())
            })
            .phase(Phase::STOP_INTAKE),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("drain-queue", {
                let queue = queue.clone();
                move |ctx| async move {
                    println!("draining the queue: {} jobs left", queue.left());
                    let emptied = ctx
                        .wait(|| queue.left() == 0, Duration::from_millis(10))
                        .await;
                    if emptied {
                        println!("queue drained");
                        Ok(())
                    } else {
                        Err(format!(
                            "the queue did not drain before the hook deadline: {} jobs left",
                            queue.left()
                        )
                        .into())
                    }
                }
            })
            .phase(Phase::FINISH_WORK)
            .timeout(hook_timeout),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("join-workers", move |_ctx| async move {
                stop_workers.cancel();
                let count = handles.len();
                for handle in handles {
                    handle.await?;
                }
                println!("{count} workers joined");
                Ok(())
            })
            .phase(Phase::FINISH_WORK),
        )
        .unwrap();

    let service = {
        let shutdown = shutdown.clone();
        async move {
            println!("ready: {workers} workers, {jobs} jobs to enqueue");
            shutdown.draining().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(service).await;
    let unprocessed = queue.close();
    println!("unprocessed jobs: {unprocessed:?}");
    println!("{report}");
    std::process::exit(report.exit_code());
}
