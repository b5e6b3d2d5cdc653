//! Carrying out a plan through the same operations the CLI uses (`manage/`): one write path,
//! so a declared object and a CLI-made one cannot differ. A deployment is loaded before the one
//! it replaces retires, and traffic moves before a deployment goes, so scoring never stops.

use std::path::Path;

use super::plan::{Op, Plan};
use crate::manage::deployments::OnFailure;
use crate::manage::endpoints::{EndpointPatch, EndpointSpec, Provenance};
use crate::manage::{self, ManageError};
use crate::state::AppState;
use crate::store::{Origin, Transport};

/// What applying a plan did: each step's line, and the steps that failed with why.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Each step that was applied, as `create endpoint defects (...)`.
    pub done: Vec<String>,
    /// Each step that failed, with why.
    pub failed: Vec<String>,
}

impl Applied {
    fn record(&mut self, step: String, result: Result<(), ManageError>) {
        match result {
            Ok(()) => {
                tracing::info!(change = %step, "config applied");
                self.done.push(step);
            }
            Err(e) => {
                tracing::error!(change = %step, error = %e, "config change failed");
                self.failed.push(format!("{step}: {e}"));
            }
        }
    }
}

/// Applies `plan`. Failures are collected, not fatal: other steps still run. Declared
/// deployments that fail to load follow `on_failure`.
pub async fn apply(app: &AppState, plan: &Plan, on_failure: OnFailure) -> Applied {
    let mut applied = Applied::default();
    let steps = || plan.steps.iter().map(|s| (s.to_string(), &s.op));
    // 1. Models and endpoints first: deployments need both.
    for (line, op) in steps() {
        let result = match op {
            Op::RegisterModel { decl, source } => {
                register(app, &decl.name, &decl.version, source).await
            }
            Op::AdoptModel { name, version } => adopt_model(app, name, version).await,
            Op::CreateEndpoint { decl, transport, credentials } => {
                let spec = EndpointSpec {
                    name: Some(decl.name.clone()),
                    auth_mode: Some(decl.auth_mode.clone()),
                    public_network_access: Some(decl.public_network_access.clone()),
                    description: Some(decl.description.clone()),
                    transport: Some(
                        match transport {
                            Transport::Tls => "tls",
                            Transport::Plain => "plain",
                        }
                        .into(),
                    ),
                    allow_unauthenticated: Some(decl.allow_unauthenticated),
                };
                let provenance =
                    Provenance { origin: Origin::Config, credentials: credentials.clone() };
                manage::endpoints::create(app, &decl.name, spec, provenance).await.map(drop)
            }
            _ => continue,
        };
        applied.record(line, result);
    }
    // 2. Deployments: each new one loads before the one it replaces retires.
    for (line, op) in steps() {
        if let Op::PutDeployment { decl } = op {
            let result =
                manage::deployments::put(app, decl.clone(), false, Origin::Config, on_failure)
                    .await
                    .and_then(|d| match &d.state {
                        crate::deploy::DeploymentState::Failed { reason } => {
                            Err(ManageError::DeploymentFailed(format!(
                                "deployment {} failed: {reason} (kept as Failed)",
                                decl.name
                            )))
                        }
                        _ => Ok(()),
                    });
            applied.record(line, result);
        }
    }
    // 3. Endpoint settings and traffic, now that the deployments traffic names exist; traffic
    //    leaves deployments that are about to go.
    for decl in &plan.endpoints {
        let update = plan.steps.iter().find_map(|s| match &s.op {
            Op::UpdateEndpoint { decl: d, credentials } if d.name == decl.name => {
                Some((s.to_string(), credentials.clone()))
            }
            _ => None,
        });
        let Some(live) = app.table().endpoint(&decl.name).cloned() else { continue };
        let remaining = |name: &String| {
            !plan.deleted_deployments.contains(&(decl.name.clone(), name.clone()))
                && decl.traffic.get(name).copied().unwrap_or(0) == 0
        };
        let mirror: std::collections::BTreeMap<String, u32> = live
            .record
            .mirror_traffic
            .iter()
            .filter(|(name, _)| remaining(name))
            .map(|(n, p)| (n.clone(), *p))
            .collect();
        let traffic_differs =
            live.record.traffic != decl.traffic || live.record.mirror_traffic != mirror;
        if update.is_none() && !traffic_differs {
            continue;
        }
        let mut patch = EndpointPatch {
            traffic: Some(decl.traffic.clone()),
            mirror_traffic: Some(mirror),
            ..EndpointPatch::default()
        };
        let line = match update {
            Some((line, credentials)) => {
                patch.description = Some(decl.description.clone());
                patch.public_network_access = Some(decl.public_network_access.clone());
                patch.auth_mode = Some(decl.auth_mode.clone());
                patch.allow_unauthenticated = Some(decl.allow_unauthenticated);
                patch.origin = Some(Origin::Config);
                patch.credentials = credentials;
                line
            }
            None => format!("update endpoint {} (traffic → {:?})", decl.name, decl.traffic),
        };
        let result = manage::endpoints::update(app, &decl.name, patch).await.map(drop);
        applied.record(line, result);
    }
    // 4. What is no longer declared, dependents first.
    for (line, op) in steps() {
        let result = match op {
            Op::DeleteDeployment { endpoint, name } => {
                manage::deployments::delete(app, endpoint, name).await
            }
            _ => continue,
        };
        applied.record(line, result);
    }
    for (line, op) in steps() {
        let result = match op {
            Op::DeleteEndpoint { name } => manage::endpoints::delete(app, name).await,
            _ => continue,
        };
        applied.record(line, result);
    }
    for (line, op) in steps() {
        let result = match op {
            Op::DeleteModel { name, version } => manage::models::delete(app, name, version).await,
            _ => continue,
        };
        applied.record(line, result);
    }
    // 5. Role assignments, once the endpoints they name exist.
    let no_check = |_: &_, _: &_, _: &_| Ok(());
    for (line, op) in steps() {
        let result = match op {
            // An endpoint's deletion may have taken its assignments already.
            Op::Unassign { id } => match manage::roles::unassign(app, id).await {
                Err(ManageError::NotFound(_)) => Ok(()),
                other => other.map(drop),
            },
            Op::Assign { decl } => manage::roles::assign(
                app,
                &decl.assignee,
                &decl.role,
                &decl.scope,
                Origin::Config,
                &no_check,
            )
            .await
            .map(drop),
            _ => continue,
        };
        applied.record(line, result);
    }
    applied
}

async fn register(
    app: &AppState,
    name: &str,
    version: &str,
    source: &Path,
) -> Result<(), ManageError> {
    let absolute = std::path::absolute(source)
        .map_err(|e| ManageError::Invalid(format!("model path {}: {e}", source.display())))?;
    manage::models::register(app, name, version, &absolute, Origin::Config).await.map(drop)
}

async fn adopt_model(app: &AppState, name: &str, version: &str) -> Result<(), ManageError> {
    let _writing = app.writes.lock().await;
    let Some(record) = app.store.model(name, version)? else {
        return Err(ManageError::NotFound(format!("model {name}:{version} is not registered")));
    };
    app.store.put_model(&crate::store::ModelRecord { origin: Some(Origin::Config), ..record })?;
    Ok(())
}
