//! Declarative provisioning: `[[model]]`, `[[endpoint]]` and `[[deployment]]` from the config
//! file written into the store at start, so an image boots ready to serve. Keys are made on
//! the first start only and never change on later ones.

use std::path::Path;

use edgeserve_accel::Target;

use crate::auth::keys;
use crate::config::Settings;
use crate::store::{
    now_rfc3339, AuthMode, DeploymentRecord, EndpointRecord, ModelRepository, NetworkAccess, Store,
    StoreError, Transport,
};

/// Why the declared state could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    #[error("model {name}:{version}: {reason}")]
    Model { name: String, version: String, reason: String },
    #[error("endpoint {name}: {reason}")]
    Endpoint { name: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes every declaration into the store; relative model paths are taken from `base_dir`.
pub fn apply(
    settings: &Settings,
    store: &Store,
    backends: &edgeserve_accel::Backends,
    base_dir: &Path,
) -> Result<(), ProvisionError> {
    let repo = ModelRepository::new(&settings.daemon.state_dir);
    for m in &settings.models {
        let fail = |reason: String| ProvisionError::Model {
            name: m.name.clone(),
            version: m.version.clone(),
            reason,
        };
        let source = base_dir.join(&m.path);
        let existing = store.model(&m.name, &m.version)?;
        match existing {
            Some(record) => {
                if source.exists() {
                    let files = backends.inspect(&source).map_err(|e| fail(e.to_string()))?.files;
                    let (sha, _) =
                        ModelRepository::digest(&files).map_err(|e| fail(e.to_string()))?;
                    if sha != record.sha256 {
                        return Err(fail(format!(
                            "{} differs from the registered version; declare a new version instead of changing this one",
                            source.display()
                        )));
                    }
                }
            }
            None => {
                let record =
                    crate::manage::models::admit(backends, &repo, &m.name, &m.version, &source)
                        .map_err(fail)?;
                store.put_model(&record)?;
                tracing::info!(model = %format!("{}:{}", m.name, m.version), "model registered from config");
            }
        }
    }
    for e in &settings.endpoints {
        let fail = |reason: String| ProvisionError::Endpoint { name: e.name.clone(), reason };
        let auth_mode = AuthMode::parse(&e.auth_mode).map_err(fail)?;
        crate::manage::endpoints::check_unauthenticated(auth_mode, e.allow_unauthenticated)
            .map_err(fail)?;
        let public_network_access = NetworkAccess::parse(&e.public_network_access).map_err(fail)?;
        let targets: Vec<Target> = settings
            .deployments
            .iter()
            .filter(|d| d.endpoint == e.name)
            .filter_map(|d| d.target.parse().ok())
            .collect();
        let transport = endpoint_transport(&targets).map_err(fail)?;
        let now = now_rfc3339();
        let existing = store.endpoint(&e.name)?;
        let record = EndpointRecord {
            name: e.name.clone(),
            auth_mode,
            public_network_access,
            transport,
            traffic: e.traffic.clone(),
            mirror_traffic: Default::default(),
            allow_unauthenticated: e.allow_unauthenticated,
            description: e.description.clone(),
            created_at: existing
                .as_ref()
                .map(|r| r.created_at.clone())
                .unwrap_or_else(|| now.clone()),
            updated_at: now,
        };
        let new_keys = match store.keys(&e.name)? {
            Some(_) => None,
            None => Some(keys::generate_pair().map_err(|_| fail("no randomness for keys".into()))?),
        };
        if existing.as_ref() != Some(&record) || new_keys.is_some() {
            store.put_endpoint(&record, new_keys.as_ref())?;
        }
    }
    for d in &settings.deployments {
        let existing = store.deployment(&d.endpoint, &d.name)?;
        let now = now_rfc3339();
        let target = d
            .target
            .parse()
            .map_err(|reason| ProvisionError::Endpoint { name: d.endpoint.clone(), reason })?;
        let record = DeploymentRecord {
            name: d.name.clone(),
            endpoint: d.endpoint.clone(),
            model: d.model.clone(),
            target,
            device: d.device,
            instance_count: d.instance_count,
            max_batch_size: d.max_batch_size,
            batch_window_us: d.batch_window_us,
            max_queue: d.max_queue,
            created_at: existing
                .as_ref()
                .map(|r| r.created_at.clone())
                .unwrap_or_else(|| now.clone()),
            updated_at: existing.as_ref().map(|r| r.updated_at.clone()).unwrap_or(now),
        };
        let same = existing.as_ref().is_some_and(|x| {
            DeploymentRecord { updated_at: x.updated_at.clone(), ..record.clone() } == *x
        });
        if !same {
            store.put_deployment(&DeploymentRecord { updated_at: now_rfc3339(), ..record })?;
        }
    }
    Ok(())
}

/// The transport an endpoint needs for its deployments' targets: all TLS, or all plain.
fn endpoint_transport(targets: &[Target]) -> Result<Transport, String> {
    let mut transports = targets.iter().map(|t| Transport::for_target(*t));
    let first = transports.next().unwrap_or(Transport::Tls);
    if transports.any(|t| t != first) {
        return Err(
            "mixes FPGA deployments (plain transport) with CPU/GPU ones (TLS); use two endpoints"
                .into(),
        );
    }
    Ok(first)
}
