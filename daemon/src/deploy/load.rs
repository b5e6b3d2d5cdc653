//! Loading a deployment's model instances through the HAL, off the async runtime.

use std::sync::Arc;

use edgeserve_accel::{Backends, LoadOptions, LoadedModel, ModelArtifact};

use super::{DeploymentState, LiveDeployment};
use crate::batch::{BatchPolicy, Runner};
use crate::store::{DeploymentRecord, Store};

/// Loads `instance_count` instances of the deployment's model; a failure is kept as the
/// deployment's `Failed` state and affects nothing else.
pub async fn load_deployment(
    record: DeploymentRecord,
    store: Arc<Store>,
    backends: Backends,
) -> LiveDeployment {
    let label = format!("{}/{}", record.endpoint, record.name);
    let r = record.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let (name, version) = crate::names::model_ref(&r.model)?;
        let model = store
            .model(name, version)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("model {} is not registered", r.model))?;
        let artifact = ModelArtifact::new(&model.dir);
        let options =
            LoadOptions { device: r.device, max_batch_size: r.max_batch_size.max(1) as usize };
        let mut instances = Vec::new();
        for _ in 0..r.instance_count.max(1) {
            let mut instance =
                backends.load(r.target, &artifact, &options).map_err(|e| e.to_string())?;
            test_inference(instance.as_mut(), options.max_batch_size)?;
            instances.push(instance);
        }
        let policy = batch_policy(&r, instances.first_mut());
        Ok((instances, policy))
    })
    .await
    .unwrap_or_else(|e| Err(format!("loading panicked: {e}")));
    let state = match loaded {
        Ok((instances, policy)) => {
            match instances.first().map(|m| (m.signature().clone(), m.placement())) {
                Some((signature, placement)) => {
                    tracing::info!(deployment = %label, target = %record.target, instances = instances.len(), max_batch_rows = policy.max_rows, "deployment loaded");
                    if let Some(p) = &placement {
                        tracing::info!(deployment = %label, gpu_nodes = p.device_nodes, host_nodes = p.host_nodes, host_ops = %p.host_ops.join(", "), "{} nodes run on the device, {} on the host{}", p.device_nodes, p.host_nodes, if p.host_ops.is_empty() { String::new() } else { format!(" ({})", p.host_ops.join(", ")) });
                    }
                    match Runner::start(&label, instances, record.max_queue as usize, policy) {
                        Ok(runner) => DeploymentState::Succeeded { runner, signature, placement },
                        Err(e) => {
                            let reason = format!("cannot start a worker thread: {e} (the box is out of memory or threads; lower instance_count or free resources)");
                            tracing::error!(deployment = %label, %reason, "deployment failed to start");
                            DeploymentState::Failed { reason }
                        }
                    }
                }
                None => DeploymentState::Failed { reason: "no instance loaded".into() },
            }
        }
        Err(reason) => {
            tracing::error!(deployment = %label, %reason, "deployment failed to load");
            DeploymentState::Failed { reason }
        }
    };
    LiveDeployment { record, state, requests: Default::default(), failures: Default::default() }
}

/// The deployment's batching: `max_batch_size` rows within `batch_window_us`, or off when the
/// model's rows are not independent of their batch mates (see `batch::rows_independent`).
fn batch_policy(r: &DeploymentRecord, model: Option<&mut Box<dyn LoadedModel>>) -> BatchPolicy {
    let max_rows = r.max_batch_size.max(1) as usize;
    let (Some(model), true) = (model, max_rows > 1) else { return BatchPolicy::OFF };
    if let Err(reason) = crate::batch::rows_independent(model.as_mut(), max_rows) {
        tracing::warn!(deployment = %format!("{}/{}", r.endpoint, r.name), %reason, "dynamic batching is off for this deployment: responses must not depend on batch mates");
        return BatchPolicy::OFF;
    }
    let buckets = crate::batch::exact_buckets(model.as_mut(), max_rows);
    let policy = BatchPolicy {
        buckets,
        ..BatchPolicy::new(max_rows, std::time::Duration::from_micros(r.batch_window_us))
    };
    let sizes: Vec<usize> = policy.proven_sizes().collect();
    tracing::debug!(deployment = %format!("{}/{}", r.endpoint, r.name), ?sizes, max_rows, "batch run sizes proven exact");
    policy
}

/// Runs zeros of the signature at batch 1 and at the largest configured batch, so a model that
/// loads but cannot run fails here, never after `Succeeded` (SPEC §2). Text inputs get empty
/// strings, which a model may rightly refuse as an unknown category: for such models a failure
/// is logged, not fatal.
fn test_inference(model: &mut dyn LoadedModel, max_batch: usize) -> Result<(), String> {
    let has_text = model.signature().inputs.iter().any(|s| s.dtype == edgeserve_accel::DType::Str);
    match run_zeros(model, max_batch) {
        Err(reason) if has_text => {
            tracing::warn!(%reason, "the test inference with empty strings failed; serving anyway (the model takes text inputs)");
            Ok(())
        }
        other => other,
    }
}

fn run_zeros(model: &mut dyn LoadedModel, max_batch: usize) -> Result<(), String> {
    let mut batches = vec![1];
    if max_batch > 1 {
        batches.push(max_batch);
    }
    for batch in batches {
        let fail = |e: edgeserve_accel::AccelError| {
            format!("the test inference at load (zeros at batch size {batch}) failed: {e}")
        };
        let inputs = model.signature().zeros(batch).map_err(fail)?;
        model.run(inputs).map_err(fail)?;
    }
    Ok(())
}

/// Builds the routing table from the store, loading every deployment (in parallel; a failed
/// one is kept as `Failed` and affects nothing else).
pub async fn build_table(
    store: Arc<Store>,
    backends: Backends,
) -> Result<super::RoutingTable, crate::store::StoreError> {
    use std::collections::BTreeMap;

    use crate::auth::Credentials;

    let mut loads = tokio::task::JoinSet::new();
    for record in store.deployments()? {
        loads.spawn(load_deployment(record, store.clone(), backends.clone()));
    }
    let mut by_endpoint: BTreeMap<String, BTreeMap<String, Arc<LiveDeployment>>> = BTreeMap::new();
    while let Some(done) = loads.join_next().await {
        match done {
            Ok(d) => {
                by_endpoint
                    .entry(d.record.endpoint.clone())
                    .or_default()
                    .insert(d.record.name.clone(), Arc::new(d));
            }
            Err(e) => tracing::error!(error = %e, "a deployment load task failed"),
        }
    }
    let mut table = super::RoutingTable::default();
    for record in store.endpoints()? {
        let Some(mut keys) = store.keys(&record.name)? else {
            tracing::error!(endpoint = %record.name, "endpoint has no keys in the store; not served");
            continue;
        };
        if record.auth_mode == crate::store::AuthMode::Token
            && crate::manage::endpoints::ensure_token_secret(&mut keys).unwrap_or(false)
        {
            store.put_keys(&record.name, &keys)?;
        }
        if record.auth_mode == crate::store::AuthMode::None {
            tracing::warn!(endpoint = %record.name, "endpoint serves with auth_mode none: anyone on the network may score it");
        }
        let deployments = by_endpoint.remove(&record.name).unwrap_or_default();
        let live = super::LiveEndpoint {
            credentials: Credentials::for_endpoint(&record, &keys),
            deployments,
            record,
        };
        table.endpoints.insert(live.record.name.clone(), Arc::new(live));
    }
    Ok(table)
}
