//! Steps that run after the report is final and before the state is done.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tracing::{Instrument, info_span};

use crate::ShutdownReport;

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

/// Runs the steps one after another, in registration order.
pub(crate) async fn run_before_done(steps: Vec<BeforeDone>, report: &ShutdownReport) {
    for step in steps {
        let span = info_span!(target: "winddown", "before_done", step = %step.name);
        (step.run)(report.clone()).instrument(span).await;
    }
}
