//! The routing table: endpoint name → live endpoint → live deployments.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use edgeserve_accel::Signature;

use crate::auth::Credentials;
use crate::batch::Runner;
use crate::store::{DeploymentRecord, EndpointRecord, Transport};

/// Whether a deployment can take requests.
pub enum DeploymentState {
    /// Loaded: requests go to its runner.
    Succeeded {
        /// The queue and workers requests are handed to.
        runner: Runner,
        /// The loaded model's inputs and outputs.
        signature: Signature,
        /// How the model splits between device and host (GPU target), shown by
        /// `deployment show` as `gpuNodes`, `hostNodes` and `hostOps`.
        placement: Option<edgeserve_accel::Placement>,
    },
    /// Could not be loaded; the reason says why (and is shown to operators).
    Failed {
        /// The load's error message.
        reason: String,
    },
}

/// A deployment as served now.
pub struct LiveDeployment {
    /// The deployment as stored.
    pub record: DeploymentRecord,
    /// Loaded or failed.
    pub state: DeploymentState,
    /// Requests this deployment has run (live and mirrored).
    pub requests: AtomicU64,
    /// Backend failures (server faults, not bad input) since its last success: at
    /// [`DEGRADED_AFTER`] the deployment is `Degraded` until a request succeeds again.
    pub failures: AtomicU32,
}

/// Consecutive backend failures after which a deployment is `Degraded` (SPEC §6): shown by
/// `show`, readiness answers 503 and `edgeserve_device_up` is 0 for its device.
pub const DEGRADED_AFTER: u32 = 5;

impl LiveDeployment {
    /// Counts one request run.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// `Succeeded`, `Degraded` (loaded, but its last [`DEGRADED_AFTER`] requests failed in the
    /// backend) or `Failed` (not loaded).
    pub fn state_name(&self) -> &'static str {
        match self.state {
            DeploymentState::Succeeded { .. } if self.degraded() => "Degraded",
            DeploymentState::Succeeded { .. } => "Succeeded",
            DeploymentState::Failed { .. } => "Failed",
        }
    }

    /// Whether repeated backend failures have marked it `Degraded`.
    pub fn degraded(&self) -> bool {
        self.failures.load(Ordering::Relaxed) >= DEGRADED_AFTER
    }

    /// Records a request's outcome in the backend: a failure counts towards `Degraded`, a
    /// success ends it. Logs when the state changes.
    pub fn record_outcome(&self, backend_failed: bool) {
        let label = || format!("{}/{}", self.record.endpoint, self.record.name);
        if backend_failed {
            let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            if n == DEGRADED_AFTER {
                tracing::error!(deployment = %label(), failures = n, "deployment Degraded: its backend failed on every recent request");
            }
        } else if self.failures.swap(0, Ordering::Relaxed) >= DEGRADED_AFTER {
            tracing::info!(deployment = %label(), "deployment recovered: Succeeded again");
        }
    }
}

/// An endpoint as served now.
#[derive(Clone)]
pub struct LiveEndpoint {
    /// The endpoint as stored (auth mode, traffic, network access).
    pub record: EndpointRecord,
    /// What its auth mode accepts: key digests, a token verifier, OIDC, or none.
    pub credentials: Credentials,
    /// Its deployments, by name.
    pub deployments: BTreeMap<String, Arc<LiveDeployment>>,
}

impl LiveEndpoint {
    /// Whether this endpoint is served on a listener of that transport.
    pub fn served_on(&self, transport: Transport) -> bool {
        self.record.transport == transport
    }

    /// The deployment for a request: the pinned one, else one drawn from the traffic split.
    pub fn choose(&self, pinned: Option<&str>, roll: u32) -> Option<&Arc<LiveDeployment>> {
        match pinned {
            Some(name) => self.deployments.get(name),
            None => super::traffic::pick(&self.record.traffic, roll)
                .and_then(|name| self.deployments.get(name)),
        }
    }
}

/// Every endpoint served; swapped whole when anything changes, so readers never lock.
#[derive(Default, Clone)]
pub struct RoutingTable {
    /// Every endpoint, by name.
    pub endpoints: HashMap<String, Arc<LiveEndpoint>>,
}

impl RoutingTable {
    /// The endpoint with this name.
    pub fn endpoint(&self, name: &str) -> Option<&Arc<LiveEndpoint>> {
        self.endpoints.get(name)
    }

    /// Whether every deployment loaded and none is `Degraded`.
    pub fn all_ready(&self) -> bool {
        self.endpoints
            .values()
            .flat_map(|e| e.deployments.values())
            .all(|d| matches!(d.state, DeploymentState::Succeeded { .. }) && !d.degraded())
    }
}
