//! Registering what runs at shutdown: hooks, and the steps before done.

use std::future::Future;

use super::lock;
use crate::before_done::BeforeDone;
use crate::{
    BoxError, FnHook, HookContext, RegisterError, Shutdown, ShutdownHook, ShutdownReport, State,
    hook_fn,
};

impl Shutdown {
    /// Registers a hook. Fails once shutdown has been triggered: a hook
    /// registered late would never run in order.
    ///
    /// ```
    /// use winddown_core::{Phase, Shutdown, hook_fn};
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.register(hook_fn("consumer", |_| async { Ok(()) }).phase(Phase::STOP_INTAKE)).unwrap();
    /// shutdown.trigger();
    /// assert!(shutdown.register(hook_fn("late", |_| async { Ok(()) })).is_err());
    /// ```
    pub fn register<H: ShutdownHook>(&self, hook: H) -> Result<(), RegisterError> {
        let mut hooks = lock(&self.inner.hooks);
        let state = self.state();
        if state != State::Running {
            return Err(RegisterError::ShuttingDown {
                hook: hook.name().to_owned(),
                state,
            });
        }
        hooks.push(Box::new(hook));
        Ok(())
    }

    /// Registers a closure as a hook in [`Phase::CLOSE`](crate::Phase::CLOSE) (the seed's
    /// `register(cb)` / `@on_cleanup`). For another phase or a timeout use
    /// [`register`](Self::register) with [`hook_fn`].
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("close-files", |_ctx| async { Ok(()) }).unwrap();
    /// ```
    pub fn on_cleanup<F, Fut>(&self, name: impl Into<String>, f: F) -> Result<(), RegisterError>
    where
        F: FnOnce(HookContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let hook: FnHook<F> = hook_fn(name, f);
        self.register(hook)
    }

    /// How many hooks are registered and not yet run.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// assert_eq!(shutdown.hook_count(), 1);
    /// ```
    pub fn hook_count(&self) -> usize {
        lock(&self.inner.hooks).len()
    }

    /// Registers a step that runs once the sequence is over but before the
    /// state becomes [`State::Done`]: after every hook has run, the
    /// [`ShutdownReport`] is final ([`report`](Self::report) returns it) and
    /// the sequence metrics are recorded, while a server that keeps its
    /// listener open until done still answers.
    ///
    /// This is where telemetry of the shutdown itself gets out: serve one
    /// last scrape, push to a gateway, write a file. Steps run one after
    /// another in registration order, each with a copy of the report. They
    /// are not bounded by the global deadline (the report is already final),
    /// so a step must bound its own time; count that time in the grace period
    /// the platform gives the process. Fails once shutdown has been triggered.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use winddown_core::{Shutdown, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// let seen = Arc::new(Mutex::new(None));
    /// shutdown
    ///     .before_done("export", {
    ///         let (shutdown, seen) = (shutdown.clone(), seen.clone());
    ///         move |report| async move {
    ///             *seen.lock().unwrap() = Some((shutdown.state(), report.hooks.len()));
    ///         }
    ///     })
    ///     .unwrap();
    /// shutdown.trigger();
    /// shutdown.run().await;
    /// assert_eq!(*seen.lock().unwrap(), Some((State::Cleanup, 1)));
    /// assert_eq!(shutdown.state(), State::Done);
    /// # }
    /// ```
    pub fn before_done<F, Fut>(&self, name: impl Into<String>, f: F) -> Result<(), RegisterError>
    where
        F: FnOnce(ShutdownReport) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // The hooks lock orders this against the trigger, like `register`.
        let _hooks = lock(&self.inner.hooks);
        let name = name.into();
        let state = self.state();
        if state != State::Running {
            return Err(RegisterError::ShuttingDown { hook: name, state });
        }
        lock(&self.inner.before_done).push(BeforeDone::new(name, f));
        Ok(())
    }
}
