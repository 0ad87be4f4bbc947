//! `use winddown::*` brings in nothing that shadows a crate a service also
//! uses: `metrics` here, which the metric names module was once called.

use winddown::*;

#[test]
fn a_glob_import_leaves_the_metrics_crate_reachable() {
    let recorder = metrics::NoopRecorder;
    let _guard = metrics::set_default_local_recorder(&recorder);
    metrics::counter!(metric_names::REJECTED_REQUESTS_TOTAL).increment(1);
    let shutdown = Shutdown::builder().no_signals().build();
    assert_eq!(shutdown.state(), State::Running);
}
