//! Prometheus metrics (SPEC §7), served as text on `metrics.listen`. Labels carry endpoint and
//! deployment names, never a credential.

mod serve;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use serve::serve_metrics;

/// Rows per batch run on a device, observed by the batch workers where each batch runs (not per
/// request). Process-wide: workers are started by the deployment loader, which holds no
/// [`Metrics`]; every registry exports this one histogram.
static BATCH_SIZE: std::sync::LazyLock<Histogram> =
    std::sync::LazyLock::new(|| Histogram::new(exponential_buckets(1.0, 2.0, 12)));

/// Records the rows of one batch run on a device (`edgeserve_batch_size`).
pub fn observe_batch(rows: usize) {
    BATCH_SIZE.observe(rows as f64);
}

use crate::deploy::DeploymentState;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    deployment: String,
    code: u16,
    /// `true` for mirrored copies (their answers are discarded), `false` for live requests.
    mirror: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    endpoint: String,
    deployment: String,
}

/// Latency buckets: 100 µs doubling to ~13 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    endpoint: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    endpoint: String,
    deployment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabels {
    target: String,
    index: u32,
}

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<AuthLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    device_up: Family<DeviceLabels, Gauge>,
    tls_expiry: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let auth_failures = Family::<AuthLabels, Counter>::default();
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        let device_up = Family::<DeviceLabels, Gauge>::default();
        let tls_expiry = Gauge::default();
        registry.register(
            "edgeserve_requests",
            "Scoring requests by endpoint, deployment and HTTP status",
            requests.clone(),
        );
        registry.register(
            "edgeserve_request_duration_seconds",
            "Scoring request latency by endpoint and deployment (the same bounded label values \
             as edgeserve_requests_total)",
            duration.clone(),
        );
        registry.register(
            "edgeserve_auth_failures",
            "Refused scoring credentials by endpoint and reason",
            auth_failures.clone(),
        );
        registry.register(
            "edgeserve_queue_depth",
            "Requests waiting per deployment",
            queue_depth.clone(),
        );
        registry.register(
            "edgeserve_batch_size",
            "Rows per batch run on a device",
            BATCH_SIZE.clone(),
        );
        registry.register(
            "edgeserve_device_up",
            "Whether a device is available (1) or not (0)",
            device_up.clone(),
        );
        registry.register(
            "edgeserve_tls_cert_expiry_timestamp_seconds",
            "Unix time at which the served TLS certificate expires",
            tls_expiry.clone(),
        );
        Metrics { registry, requests, duration, auth_failures, queue_depth, device_up, tls_expiry }
    }

    /// Counts a finished scoring request.
    pub fn request(&self, endpoint: &str, deployment: &str, code: u16, seconds: f64) {
        let labels = RequestLabels {
            endpoint: endpoint.into(),
            deployment: deployment.into(),
            code,
            mirror: "false",
        };
        self.requests.get_or_create(&labels).inc();
        let latency = LatencyLabels { endpoint: labels.endpoint, deployment: labels.deployment };
        self.duration.get_or_create(&latency).observe(seconds);
    }

    /// Counts a mirrored copy run on `deployment` (`mirror="true"`; not in the latency histogram,
    /// no client waited for it).
    pub fn mirrored(&self, endpoint: &str, deployment: &str, code: u16) {
        let labels = RequestLabels {
            endpoint: endpoint.into(),
            deployment: deployment.into(),
            code,
            mirror: "true",
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a refused credential (`missing`, `invalid`, `network`).
    pub fn auth_failure(&self, endpoint: &str, reason: &str) {
        self.auth_failures
            .get_or_create(&AuthLabels { endpoint: endpoint.into(), reason: reason.into() })
            .inc();
    }

    /// The text exposition, with gauges read from the daemon's state now.
    pub fn render(&self, app: &AppState, devices: &[edgeserve_accel::DeviceInfo]) -> String {
        self.queue_depth.clear();
        for endpoint in app.table().endpoints.values() {
            for d in endpoint.deployments.values() {
                if let DeploymentState::Succeeded { runner, .. } = &d.state {
                    let labels = QueueLabels {
                        endpoint: d.record.endpoint.clone(),
                        deployment: d.record.name.clone(),
                    };
                    self.queue_depth.get_or_create(&labels).set(runner.depth() as i64);
                }
            }
        }
        // A device whose deployment is `Degraded` is down, whatever enumeration says.
        let degraded: std::collections::BTreeSet<(String, u32)> = app
            .table()
            .endpoints
            .values()
            .flat_map(|e| e.deployments.values())
            .filter(|d| d.degraded())
            .map(|d| (d.record.target.to_string(), d.record.device))
            .collect();
        for dev in devices {
            let labels = DeviceLabels { target: dev.target.to_string(), index: dev.index };
            let up = dev.available && !degraded.contains(&(labels.target.clone(), dev.index));
            self.device_up.get_or_create(&labels).set(i64::from(up));
        }
        for (target, index) in degraded {
            self.device_up.get_or_create(&DeviceLabels { target, index }).set(0);
        }
        if let Some(tls) = app.tls() {
            self.tls_expiry.set(tls.current().1.not_after_unix);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode metrics");
        }
        out
    }
}
