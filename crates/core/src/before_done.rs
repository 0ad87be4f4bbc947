//! Steps that run after the report is final and before the state is done.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tracing::{Instrument, error, info_span};

use crate::ShutdownReport;
use crate::runner::panic_message;
use crate::text::escaped;

type StepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// One step registered with [`Shutdown::before_done`](crate::Shutdown::before_done).
pub(crate) struct BeforeDone {
    name: String,
    run: Box<dyn FnOnce(ShutdownReport) -> StepFuture + Send>,
}

impl BeforeDone {
    pub(crate) fn new<F, Fut>(name: String, f: F) -> Self
    where
        F: FnOnce(ShutdownReport) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        BeforeDone {
            name,
            run: Box::new(move |report| Box::pin(f(report))),
        }
    }
}

impl fmt::Debug for BeforeDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeforeDone")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Runs the steps one after another, in registration order. A step that
/// panics is logged and the next one still runs: a failed export must not
/// keep the state from becoming done.
pub(crate) async fn run_before_done(steps: Vec<BeforeDone>, report: &ShutdownReport) {
    for step in steps {
        let name = escaped(&step.name).into_owned();
        let span = info_span!(target: "winddown", "before_done", step = %name);
        let run = step.run;
        let report = report.clone();
        // A task of its own, so that a panic (in the step's closure or its
        // future) stops only this step.
        let joined = tokio::spawn(async move { run(report).await }.instrument(span)).await;
        if let Err(join) = joined {
            let message = match join.try_into_panic() {
                Ok(payload) => panic_message(payload),
                Err(join) => join.to_string(),
            };
            error!(
                target: "winddown",
                step = %name,
                "before-done step {name} failed: {}; the next steps still run",
                escaped(&message)
            );
        }
    }
}
