//! Admitting requests: the request gate and its admissions.
//!
//! A server admits a request while the shutdown is running or announcing and
//! counts it in flight until its response has ended. Counting is the hot
//! path of every request, so an admission is one reference to a shared gate
//! and nothing else: the gate's reference count is the count of requests in
//! flight.
//!
//! The shutdown holds one extra reference (the anchor) until draining starts
//! and hands out only weak ones: admitting is upgrading a weak reference,
//! ending is dropping the strong one. When draining starts the anchor is
//! released, so the gate is dropped with the last request still in flight,
//! and the drain waits for that.
//!
//! Why an admission that sees a running state is always waited for: draining
//! publishes its state and then releases the anchor; an admission upgrades
//! and then reads the state. Both act on the one reference count, whose
//! changes are totally ordered. If the upgrade comes before the anchor's
//! release, the count includes the request when the anchor goes, and the
//! gate outlives it. If it comes after, the upgrade (acquire) read a count
//! written by the release or later, so the state it reads next is the
//! draining one and the request is refused.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::DrainEnded;
use crate::inflight::InFlight;
use crate::sequence::StateCell;

/// What the shutdown shares with the requests it admitted: the state, the
/// in-flight counter of guards, and the end of the drain. Kept apart from
/// the rest of the shutdown so that a gate can hold it without keeping the
/// shutdown (and its gate) alive in a cycle.
pub(crate) struct Signals {
    pub(crate) cell: StateCell,
    pub(crate) in_flight: InFlight,
    pub(crate) drain_ended: CancellationToken,
    /// Set just before `drain_ended` is cancelled: a lock-free
    /// `is_drain_ended` for the per-request path.
    pub(crate) drain_ended_flag: AtomicBool,
    /// Notified when the gate is dropped.
    gate_gone: Notify,
    /// Whether the shutdown still holds its reference to the gate (cleared
    /// just before it lets go), for counting admissions.
    anchored: AtomicBool,
}

impl Signals {
    pub(crate) fn new() -> Self {
        Signals {
            cell: StateCell::new(),
            in_flight: InFlight::default(),
            drain_ended: CancellationToken::new(),
            drain_ended_flag: AtomicBool::new(false),
            gate_gone: Notify::new(),
            anchored: AtomicBool::new(true),
        }
    }

    #[inline]
    pub(crate) fn is_drain_ended(&self) -> bool {
        self.drain_ended_flag.load(Ordering::Acquire)
    }

    pub(crate) fn drain_ended(&self) -> DrainEnded {
        DrainEnded::new(self.drain_ended.clone().cancelled_owned())
    }
}

/// The shared gate: requests in flight hold it, the shutdown anchors it.
struct Gate {
    signals: Arc<Signals>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Runs once the reference count is zero: a waiter that saw it
        // non-zero registered before looking, and is woken here.
        self.signals.gate_gone.notify_waiters();
    }
}

/// The shutdown's side of the gate: the anchor until draining starts, and
/// the weak reference it hands out.
pub(crate) struct GateOwner {
    anchor: std::sync::Mutex<Option<Arc<Gate>>>,
    gate: RequestGate,
}

impl GateOwner {
    pub(crate) fn new(signals: Arc<Signals>) -> Self {
        let anchor = Arc::new(Gate {
            signals: signals.clone(),
        });
        GateOwner {
            gate: RequestGate {
                weak: Arc::downgrade(&anchor),
                signals,
            },
            anchor: std::sync::Mutex::new(Some(anchor)),
        }
    }

    pub(crate) fn gate(&self) -> RequestGate {
        self.gate.clone()
    }

    /// Releases the anchor: from now on the gate lives only as long as the
    /// requests in flight. Called once the state is draining (or later).
    pub(crate) fn release(&self) {
        let mut anchor = crate::shutdown::lock(&self.anchor);
        self.gate.signals.anchored.store(false, Ordering::Release);
        drop(anchor.take());
    }

    /// How many admissions are alive.
    pub(crate) fn admitted(&self) -> usize {
        // Under the lock the anchor and its flag agree.
        let _anchor = crate::shutdown::lock(&self.anchor);
        self.gate.in_flight_count()
    }

    /// Resolves once the anchor has been released and every admission has
    /// ended. Cancel safe.
    pub(crate) async fn wait_gone(&self) {
        // The gate's drop, which comes after its count reached zero, wakes
        // this waiter.
        let gate = &self.gate;
        crate::wait::until_notified(&gate.signals.gate_gone, || gate.weak.strong_count() == 0)
            .await;
    }
}

/// Admits requests while the [`Shutdown`](crate::Shutdown) is running or
/// announcing; from the start of draining it refuses.
///
/// An [`Admission`] counts as in flight (draining waits for it, and
/// [`in_flight_count`](crate::Shutdown::in_flight_count) includes it) until
/// it is dropped. Admitting is one atomic operation on the gate's reference
/// count, as is the admission's drop: it is the request counter of the HTTP
/// layer, meant for any server that admits and counts requests. Cheap to
/// clone.
///
/// Like tower-http's `InFlightRequests`, the count is not reported per
/// request: [`in_flight_count`](Self::in_flight_count) reads it, the
/// shutdown reports it as the `winddown_inflight_requests` gauge at each
/// change of state, and an exporter can report it whenever it renders
/// (`winddown_prometheus::PrometheusMetrics::track` does, at each scrape).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
/// let gate = shutdown.request_gate();
///
/// let admission = gate.try_admit().expect("running: admitted");
/// assert_eq!(shutdown.in_flight_count(), 1);
/// drop(admission);
/// assert_eq!(shutdown.in_flight_count(), 0);
///
/// shutdown.trigger();
/// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
/// shutdown.draining().await;
/// assert!(gate.try_admit().is_none());
/// # }
/// ```
#[derive(Clone)]
pub struct RequestGate {
    weak: Weak<Gate>,
    signals: Arc<Signals>,
}

impl RequestGate {
    /// Admits a request, or `None` once draining has started.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let admission = shutdown.request_gate().try_admit();
    /// assert!(admission.is_some());
    /// ```
    #[inline]
    pub fn try_admit(&self) -> Option<Admission> {
        let gate = self.weak.upgrade()?;
        if gate.signals.cell.is_draining() {
            return None;
        }
        Some(Admission { gate })
    }

    /// How many of this gate's admissions are alive: the requests in flight.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let gate = shutdown.request_gate();
    /// let admission = gate.try_admit();
    /// assert_eq!(gate.in_flight_count(), 1);
    /// drop(admission);
    /// assert_eq!(gate.in_flight_count(), 0);
    /// ```
    pub fn in_flight_count(&self) -> usize {
        // A reading that races the anchor's release may be off by one (the
        // shutdown's own count, `Shutdown::in_flight_count`, reads under
        // the release's lock and is exact).
        let count = self.weak.strong_count();
        let anchored = self.signals.anchored.load(Ordering::Acquire);
        count.saturating_sub(usize::from(anchored))
    }

    /// The state of the shutdown this gate admits for: what an exporter
    /// reports as `winddown_state` when it renders.
    ///
    /// ```
    /// use winddown_core::State;
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let gate = shutdown.request_gate();
    /// assert_eq!(gate.state(), State::Running);
    /// shutdown.trigger();
    /// assert_eq!(gate.state(), State::Announcing);
    /// ```
    pub fn state(&self) -> crate::State {
        self.signals.cell.load()
    }

    /// Whether `other` is a handle to the same gate (of the same shutdown).
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let other = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(shutdown.request_gate().same_gate(&shutdown.request_gate()));
    /// assert!(!shutdown.request_gate().same_gate(&other.request_gate()));
    /// ```
    pub fn same_gate(&self, other: &RequestGate) -> bool {
        Arc::ptr_eq(&self.signals, &other.signals)
    }

    /// Sets the `winddown_inflight_requests` gauge of the recorder in effect
    /// to [`in_flight_count`](Self::in_flight_count).
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.request_gate().record_in_flight();
    /// ```
    #[cfg(feature = "metrics")]
    pub fn record_in_flight(&self) {
        crate::metric_names::record_in_flight_requests(self.in_flight_count());
    }
}

impl fmt::Debug for RequestGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGate")
            .field("open", &(self.weak.strong_count() > 0))
            .finish()
    }
}

/// A request admitted by a [`RequestGate`]: in flight until dropped.
///
/// It answers the questions a request asks on its way through: whether
/// shutdown has started (to close the connection after the response),
/// and whether the drain has ended (to cut a response still streaming).
///
/// ```
/// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
/// let admission = shutdown.request_gate().try_admit().unwrap();
/// assert!(!admission.is_shutting_down());
/// shutdown.trigger();
/// assert!(admission.is_shutting_down());
/// assert!(!admission.is_drain_ended());
/// ```
#[must_use = "the request counts as in flight only while the admission is alive"]
pub struct Admission {
    gate: Arc<Gate>,
}

impl Admission {
    /// Whether shutdown has been triggered: one atomic load.
    #[inline]
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let admission = shutdown.request_gate().try_admit().unwrap();
    /// assert!(!admission.is_shutting_down());
    /// shutdown.trigger();
    /// // An HTTP/1 response now carries `Connection: close`.
    /// assert!(admission.is_shutting_down());
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.gate.signals.cell.is_triggered()
    }

    /// Whether draining has ended: one atomic load.
    #[inline]
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder()
    ///     .no_signals()
    ///     .drain_timeout(Duration::from_secs(1))
    ///     .build();
    /// let admission = shutdown.request_gate().try_admit().unwrap();
    /// shutdown.trigger();
    /// let run = tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// assert!(!admission.is_drain_ended());
    /// shutdown.drain_ended().await; // the admission held the drain to its timeout
    /// assert!(admission.is_drain_ended());
    /// drop(admission);
    /// assert_eq!(run.await.unwrap().abandoned, 1);
    /// # }
    /// ```
    pub fn is_drain_ended(&self) -> bool {
        self.gate.signals.is_drain_ended()
    }

    /// Resolves when draining ends, as
    /// [`Shutdown::drain_ended`](crate::Shutdown::drain_ended).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder()
    ///     .no_signals()
    ///     .drain_timeout(Duration::from_secs(2))
    ///     .build();
    /// let admission = shutdown.request_gate().try_admit().unwrap();
    /// shutdown.trigger();
    /// let run = tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// admission.drain_ended().await; // never finished: cut at the drain timeout
    /// drop(admission);
    /// assert_eq!(run.await.unwrap().abandoned, 1);
    /// # }
    /// ```
    pub fn drain_ended(&self) -> DrainEnded {
        self.gate.signals.drain_ended()
    }
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("shutting_down", &self.is_shutting_down())
            .field("drain_ended", &self.is_drain_ended())
            .finish()
    }
}
