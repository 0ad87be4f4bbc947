//! [`ServiceBuilderExt`]: the drain as a `ServiceBuilder` method.

use tower::ServiceBuilder;
use tower::layer::util::Stack;
use winddown_core::Shutdown;

use crate::DrainLayer;

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed<L> {}

    impl<L> Sealed<L> for tower::ServiceBuilder<L> {}
}

/// Extension methods for [`tower::ServiceBuilder`].
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, service_fn};
/// use winddown_core::Shutdown;
/// use winddown_http::ServiceBuilderExt;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let service = ServiceBuilder::new()
///     .drain_on_shutdown(shutdown)
///     .service(service_fn(|_: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::from("hi")))
///     }));
/// # let _ = service;
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed<L> + Sized {
    /// Adds a [`DrainLayer`] with the default settings; for custom settings
    /// use `.layer(DrainLayer::new(shutdown)…)`.
    fn drain_on_shutdown(self, shutdown: Shutdown) -> ServiceBuilder<Stack<DrainLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn drain_on_shutdown(self, shutdown: Shutdown) -> ServiceBuilder<Stack<DrainLayer, L>> {
        self.layer(DrainLayer::new(shutdown))
    }
}
