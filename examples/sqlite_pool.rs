//! Run with `cargo run --example sqlite_pool -- /tmp/acks.db`, then press Ctrl+C (or send SIGTERM).
//!
//! Environment: `DB_PATH` (the database file, when no argument is given;
//! default `winddown-sqlite-pool.db` in the system temp dir), `POOL_SIZE`
//! (connections, default 4), `WRITERS` (default 4) and `WRITE_MS` (how long a
//! write transaction holds its lock, default 20).
//!
//! A real embedded database: SQLite in WAL mode behind a small connection
//! pool. Writers insert rows in a loop and print `ack <id>` only after the
//! commit has returned. On SIGTERM or SIGINT the hooks run in phase order:
//!
//! 1. `stop-writes` (stop_intake): the pool stops lending connections, so no
//!    new write starts; it says how many queries are in flight.
//! 2. `finish-queries` (finish_work): waits with `HookContext::wait` until
//!    the pool's active count is 0: the writes in flight at the signal commit
//!    and are acknowledged.
//! 3. `close-pool` (close): checkpoints the WAL into the database file and
//!    closes every connection, which removes the `-wal` and `-shm` files.
//!
//! Afterwards every acknowledged id is in the file, `PRAGMA integrity_check`
//! says `ok`, and nothing holds a lock on it. Progress lines go to stderr;
//! the acks and the report go to stdout.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::Semaphore;
use winddown::{Phase, Shutdown, hook_fn};

use crate::support::env_u64;

/// A fixed set of connections lent out one at a time.
struct Pool {
    state: Mutex<PoolState>,
    /// One permit per idle connection; closed when the pool stops lending.
    available: Semaphore,
    /// SQLite has one writer at a time. Its busy handler retries with
    /// growing sleeps, which lets one busy writer starve the others; this
    /// lock hands the write turn out in arrival order instead.
    write_turn: Arc<tokio::sync::Mutex<()>>,
}

struct PoolState {
    idle: Vec<Connection>,
    /// Connections lent out: the queries in flight.
    active: usize,
    lending: bool,
}

/// A borrowed connection, given back when dropped.
struct Lease {
    pool: Arc<Pool>,
    conn: Option<Connection>,
}

impl Lease {
    fn conn(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut state = self.pool.lock();
            state.idle.push(conn);
            state.active -= 1;
            drop(state);
            self.pool.available.add_permits(1);
        }
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    assert_eq!(mode, "wal", "the database is in WAL mode");
    // An acknowledged commit survives a crash of the process and of the machine.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Pool {
    fn open(path: &Path, size: usize) -> rusqlite::Result<Arc<Pool>> {
        let first = open_connection(path)?;
        first.execute_batch(
            "CREATE TABLE IF NOT EXISTS acks (
                 id INTEGER PRIMARY KEY,
                 payload TEXT NOT NULL,
                 written_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
             )",
        )?;
        let mut idle = vec![first];
        for _ in 1..size {
            idle.push(open_connection(path)?);
        }
        Ok(Arc::new(Pool {
            state: Mutex::new(PoolState {
                idle,
                active: 0,
                lending: true,
            }),
            available: Semaphore::new(size),
            write_turn: Arc::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Borrows a connection, or `None` once the pool has stopped lending.
    async fn acquire(self: &Arc<Self>) -> Option<Lease> {
        self.available.acquire().await.ok()?.forget();
        let mut state = self.lock();
        if !state.lending {
            return None;
        }
        let conn = state.idle.pop().expect("a permit means an idle connection");
        state.active += 1;
        Some(Lease {
            pool: self.clone(),
            conn: Some(conn),
        })
    }

    /// Stops lending; returns how many queries are in flight.
    fn stop_lending(&self) -> usize {
        let mut state = self.lock();
        state.lending = false;
        self.available.close();
        state.active
    }

    fn active(&self) -> usize {
        self.lock().active
    }

    /// Checkpoints the WAL and closes every idle connection (the last close
    /// removes the WAL file); returns how many connections were closed and
    /// how many WAL frames were copied into the database file.
    fn close(&self) -> rusqlite::Result<(usize, i64)> {
        let conns = std::mem::take(&mut self.lock().idle);
        let mut frames = 0;
        if let Some(conn) = conns.first() {
            // (1 if it could not finish, frames in the WAL, frames checkpointed)
            let (blocked, _, done): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?;
            assert_eq!(blocked, 0, "nothing else uses the database any more");
            frames = done;
        }
        let count = conns.len();
        for conn in conns {
            conn.close().map_err(|(_, error)| error)?;
        }
        Ok((count, frames))
    }
}

/// One write: a transaction that holds the write lock for `hold` (the work of
/// a slower statement), then commits.
fn insert(conn: &mut Connection, id: i64, hold: Duration) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO acks (id, payload) VALUES (?1, ?2)",
        params![id, format!("payload of write {id}")],
    )?;
    std::thread::sleep(hold);
    tx.commit()
}

async fn write_loop(pool: Arc<Pool>, ids: Arc<AtomicI64>, hold: Duration) {
    while let Some(mut lease) = pool.acquire().await {
        let id = ids.fetch_add(1, Ordering::SeqCst);
        let turn = pool.write_turn.clone().lock_owned().await;
        let (lease, result) = tokio::task::spawn_blocking(move || {
            let result = insert(lease.conn(), id, hold);
            drop(turn);
            (lease, result)
        })
        .await
        .expect("the write does not panic");
        match result {
            // The connection goes back to the pool (and `active` drops) only
            // after the ack is printed.
            Ok(()) => println!("ack {id}"),
            Err(error) => eprintln!("write {id} failed: {error}"),
        }
        drop(lease);
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("DB_PATH"))
        .map_or_else(
            || std::env::temp_dir().join("winddown-sqlite-pool.db"),
            PathBuf::from,
        );
    let pool_size = env_u64("POOL_SIZE", 4).max(1) as usize;
    let writers = env_u64("WRITERS", 4);
    let hold = Duration::from_millis(env_u64("WRITE_MS", 20));

    let pool = Pool::open(&path, pool_size).unwrap_or_else(|error| {
        eprintln!("cannot open the database {}: {error}", path.display());
        std::process::exit(2);
    });
    let last: i64 = pool
        .lock()
        .idle
        .first()
        .expect("the pool has a connection")
        .query_row("SELECT COALESCE(MAX(id), 0) FROM acks", [], |row| {
            row.get(0)
        })
        .expect("read the last id");
    let ids = Arc::new(AtomicI64::new(last + 1));

    let shutdown = Shutdown::builder()
        .hook_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build();
    shutdown
        .register(
            hook_fn("stop-writes", {
                let pool = pool.clone();
                move |_ctx| async move {
                    let in_flight = pool.stop_lending();
                    println!("writes stopped: {in_flight} queries in flight");
                    Ok(())
                }
            })
            .phase(Phase::STOP_INTAKE),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("finish-queries", {
                let pool = pool.clone();
                move |ctx| async move {
                    if ctx
                        .wait(|| pool.active() == 0, Duration::from_millis(5))
                        .await
                    {
                        println!("in-flight queries finished");
                        Ok(())
                    } else {
                        Err(
                            format!("{} queries still running at the deadline", pool.active())
                                .into(),
                        )
                    }
                }
            })
            .phase(Phase::FINISH_WORK),
        )
        .unwrap();
    shutdown
        .register(hook_fn("close-pool", {
            let pool = pool.clone();
            let path = path.clone();
            move |_ctx| async move {
                let (count, frames) = tokio::task::spawn_blocking(move || pool.close()).await??;
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                println!(
                    "pool closed: {count} connections, {frames} WAL frames checkpointed, WAL file {}",
                    if wal.exists() { "still there" } else { "removed" }
                );
                Ok(())
            }
        }))
        .unwrap();

    let service = {
        let shutdown = shutdown.clone();
        async move {
            println!(
                "writing to {} with {writers} writers and {pool_size} connections",
                path.display()
            );
            for _ in 0..writers {
                tokio::spawn(write_loop(pool.clone(), ids.clone(), hold));
            }
            shutdown.draining().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(service).await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
