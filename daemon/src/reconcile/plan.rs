//! What reconciling the config's declarations with the store would do, computed without
//! changing anything: the plan `edgeserved --check-config` prints and a reload applies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edgeserve_accel::{Backends, Target};

use crate::auth::rbac::RoleAssignment;
use crate::config::{DeploymentDecl, EndpointDecl, ModelDecl, RoleAssignmentDecl, Settings};
use crate::store::{
    AuthMode, DeploymentRecord, EndpointKeys, EndpointRecord, ModelRecord, ModelRepository,
    NetworkAccess, Origin, Store, StoreError, Transport,
};

/// Why no plan could be made: the config cannot be applied as it stands (nothing changes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A declaration that cannot be applied, with the reason and the fix.
    #[error("{what}: {reason}")]
    Declaration {
        /// The declaration (`endpoint[0] defects`).
        what: String,
        /// Why it cannot be applied, with the fix.
        reason: String,
    },
    #[error(transparent)]
    /// The store could not be read.
    Store(#[from] StoreError),
}

fn refuse(what: impl Into<String>, reason: impl Into<String>) -> PlanError {
    PlanError::Declaration { what: what.into(), reason: reason.into() }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The object is declared but not in the store.
    Create,
    /// The object is in the store but differs from its declaration.
    Update,
    /// The object was declared before and no longer is.
    Delete,
}

impl Action {
    /// `create`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// The operation behind a step, with what applying it needs.
#[derive(Debug, Clone)]
pub(super) enum Op {
    RegisterModel { decl: ModelDecl, source: PathBuf },
    AdoptModel { name: String, version: String },
    DeleteModel { name: String, version: String },
    CreateEndpoint { decl: EndpointDecl, transport: Transport, credentials: Option<EndpointKeys> },
    UpdateEndpoint { decl: EndpointDecl, credentials: Option<EndpointKeys> },
    DeleteEndpoint { name: String },
    PutDeployment { decl: DeploymentDecl },
    DeleteDeployment { endpoint: String, name: String },
    Assign { decl: RoleAssignmentDecl },
    Unassign { id: String },
}

/// One change: `create endpoint defects`, with what changes in `detail`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Create, update or delete.
    pub action: Action,
    /// `model`, `endpoint`, `deployment` or `role assignment`.
    pub kind: &'static str,
    /// `NAME:VERSION`, `NAME`, `ENDPOINT/NAME`, or `ASSIGNEE ROLE SCOPE`.
    pub name: String,
    /// What differs (field names and values; never a key).
    pub detail: String,
    pub(super) op: Op,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.action.as_str(), self.kind, self.name)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Every change a reconcile makes, in the order it makes them, plus the declared endpoints
/// whose traffic it then settles.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The changes, in order.
    pub steps: Vec<Step>,
    /// Declared objects already as declared.
    pub unchanged: usize,
    /// Things the plan leaves alone on purpose, and why (e.g. a model still in use).
    pub notes: Vec<String>,
    /// The declared endpoints, for the traffic step after deployments change.
    pub(super) endpoints: Vec<EndpointDecl>,
    /// Deployments the plan deletes, by endpoint (traffic is moved off them first).
    pub(super) deleted_deployments: BTreeSet<(String, String)>,
}

impl Plan {
    /// True when applying changes nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// An update step listing what `changed` (plus adoption of an object stored before origins
    /// existed), or one more unchanged object when nothing did.
    fn update_or_unchanged(
        &mut self,
        kind: &'static str,
        name: &str,
        origin: Option<Origin>,
        mut changed: Vec<String>,
        op: Op,
    ) {
        if origin.is_none() {
            changed.push("adopted by the config".into());
        }
        if changed.is_empty() {
            self.unchanged += 1;
            return;
        }
        let detail = changed.join(", ");
        self.steps.push(Step { action: Action::Update, kind, name: name.to_string(), detail, op });
    }

    /// The plan as text, one step per line, ending with a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            out.push_str(&format!("{step}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        let count = |a: Action| self.steps.iter().filter(|s| s.action == a).count();
        out.push_str(&format!(
            "plan: {} to create, {} to update, {} to delete, {} unchanged\n",
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
            self.unchanged
        ));
        out
    }
}

/// What the store holds now, as the planner sees it.
pub struct Current {
    /// Registered model versions.
    pub models: Vec<ModelRecord>,
    /// Endpoints.
    pub endpoints: Vec<EndpointRecord>,
    /// Deployments.
    pub deployments: Vec<DeploymentRecord>,
    /// Each endpoint's keys and token secret, by endpoint name (compared with `keys_file`s).
    pub keys: BTreeMap<String, EndpointKeys>,
    /// Role assignments.
    pub assignments: Vec<RoleAssignment>,
    /// Role names that exist (built-in and custom).
    pub roles: BTreeSet<String>,
    /// Deployments that failed to load (`ENDPOINT/NAME`): a reload retries them.
    pub failed: BTreeSet<String>,
}

impl Current {
    /// An empty store (a box before its first start): only the built-in roles exist.
    pub fn empty(admin_group: &str) -> Current {
        let builtin = crate::auth::rbac::RbacSnapshot::builtin(admin_group);
        Current {
            models: Vec::new(),
            endpoints: Vec::new(),
            deployments: Vec::new(),
            keys: BTreeMap::new(),
            assignments: Vec::new(),
            roles: builtin.roles().into_iter().map(|r| r.name.clone()).collect(),
            failed: BTreeSet::new(),
        }
    }

    /// Reads the store; `failed` is filled by the caller from the live table, if any.
    pub fn read(store: &Store, admin_group: &str) -> Result<Current, StoreError> {
        let endpoints = store.endpoints()?;
        let mut keys = BTreeMap::new();
        for e in &endpoints {
            if let Some(k) = store.keys(&e.name)? {
                keys.insert(e.name.clone(), k);
            }
        }
        let snapshot = crate::auth::rbac::RbacSnapshot::new(
            store.role_definitions()?,
            store.role_assignments()?,
            admin_group,
        );
        Ok(Current {
            models: store.models()?,
            deployments: store.deployments()?,
            keys,
            endpoints,
            assignments: store.role_assignments()?,
            roles: snapshot.roles().into_iter().map(|r| r.name.clone()).collect(),
            failed: BTreeSet::new(),
        })
    }
}

/// Whose object a declaration may change: its own, or one stored before origins existed.
fn owned(origin: Option<Origin>, what: &str) -> Result<(), PlanError> {
    if origin == Some(Origin::Cli) {
        return Err(refuse(
            what,
            "exists and was made with the CLI; declarations never change CLI-made objects: \
             delete it with the CLI first, or give the declaration another name",
        ));
    }
    Ok(())
}

fn model_ref(name: &str, version: &str) -> String {
    format!("{name}:{version}")
}

/// The transport an endpoint's declared deployments need: all TLS, or all plain.
fn transport_of(settings: &Settings, endpoint: &str) -> Result<Transport, PlanError> {
    let mut transports = settings
        .deployments
        .iter()
        .filter(|d| d.endpoint == endpoint)
        .filter_map(|d| d.target.parse::<Target>().ok())
        .map(Transport::for_target);
    let first = transports.next().unwrap_or(Transport::Tls);
    if transports.any(|t| t != first) {
        return Err(refuse(
            format!("endpoint {endpoint}"),
            "mixes FPGA deployments (plain transport) with CPU/GPU ones (TLS); use two endpoints",
        ));
    }
    Ok(first)
}

/// Computes the plan that makes the store match `settings`' declarations. Blocking: it reads
/// key files and hashes declared model files (relative paths from `base_dir`).
pub fn plan(
    settings: &Settings,
    base_dir: &Path,
    current: &Current,
    backends: &Backends,
) -> Result<Plan, PlanError> {
    let mut plan = Plan { endpoints: settings.endpoints.clone(), ..Plan::default() };
    plan_models(settings, base_dir, current, backends, &mut plan)?;
    plan_endpoints(settings, base_dir, current, &mut plan)?;
    plan_deployments(settings, current, &mut plan)?;
    plan_deletions(settings, current, &mut plan);
    plan_assignments(settings, current, &mut plan)?;
    Ok(plan)
}

fn plan_models(
    settings: &Settings,
    base_dir: &Path,
    current: &Current,
    backends: &Backends,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    for m in &settings.models {
        let what = format!("model {}", model_ref(&m.name, &m.version));
        let source = base_dir.join(&m.path);
        let existing = current.models.iter().find(|r| r.name == m.name && r.version == m.version);
        let Some(record) = existing else {
            if !source.exists() {
                return Err(refuse(
                    what,
                    format!(
                        "{} does not exist (relative paths are read from {})",
                        source.display(),
                        base_dir.display()
                    ),
                ));
            }
            plan.steps.push(Step {
                action: Action::Create,
                kind: "model",
                name: model_ref(&m.name, &m.version),
                detail: format!("from {}", source.display()),
                op: Op::RegisterModel { decl: m.clone(), source },
            });
            continue;
        };
        if source.exists() {
            let files = backends.inspect(&source).map_err(|e| refuse(&what, e.to_string()))?.files;
            let (sha, _) =
                ModelRepository::digest(&files).map_err(|e| refuse(&what, e.to_string()))?;
            if sha != record.sha256 {
                return Err(refuse(
                    what,
                    format!(
                        "{} differs from the registered version; declare a new version instead \
                         of changing this one",
                        source.display()
                    ),
                ));
            }
        }
        match record.origin {
            // The same files registered with the CLI: used as they are, and never deleted here.
            Some(Origin::Cli) => plan.unchanged += 1,
            Some(Origin::Config) => plan.unchanged += 1,
            None => plan.steps.push(Step {
                action: Action::Update,
                kind: "model",
                name: model_ref(&m.name, &m.version),
                detail: "adopted by the config".into(),
                op: Op::AdoptModel { name: m.name.clone(), version: m.version.clone() },
            }),
        }
    }
    Ok(())
}

fn plan_endpoints(
    settings: &Settings,
    base_dir: &Path,
    current: &Current,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    for e in &settings.endpoints {
        let what = format!("endpoint {}", e.name);
        let credentials = super::credentials::read_declared(e, base_dir)
            .map_err(|reason| refuse(&what, reason))?;
        let transport = transport_of(settings, &e.name)?;
        let Some(record) = current.endpoints.iter().find(|r| r.name == e.name) else {
            let mut detail = format!("auth_mode {}", e.auth_mode);
            if credentials.is_some() {
                detail.push_str(", credentials from the declared files");
            }
            plan.steps.push(Step {
                action: Action::Create,
                kind: "endpoint",
                name: e.name.clone(),
                detail,
                op: Op::CreateEndpoint { decl: e.clone(), transport, credentials },
            });
            continue;
        };
        owned(record.origin, &what)?;
        if record.transport != transport {
            return Err(refuse(
                what,
                "its deployments now need another transport (FPGA: plain, CPU/GPU: TLS); remove \
                 the endpoint from the config, reload, then declare it again",
            ));
        }
        let mut changed = Vec::new();
        let auth_mode = AuthMode::parse(&e.auth_mode).map_err(|r| refuse(&what, r))?;
        if record.auth_mode != auth_mode {
            changed.push(format!("auth_mode {} → {}", record.auth_mode.as_str(), e.auth_mode));
        }
        let access =
            NetworkAccess::parse(&e.public_network_access).map_err(|r| refuse(&what, r))?;
        if record.public_network_access != access {
            changed.push(format!("public_network_access → {}", e.public_network_access));
        }
        if record.description != e.description {
            changed.push("description".into());
        }
        if record.allow_unauthenticated != e.allow_unauthenticated {
            changed.push(format!("allow_unauthenticated → {}", e.allow_unauthenticated));
        }
        if record.traffic != e.traffic {
            changed.push(format!("traffic → {:?}", e.traffic));
        }
        if let Some(shared) = &credentials {
            let stored = current.keys.get(&e.name);
            let differs = |mine: Option<&String>, theirs: &String| {
                !theirs.is_empty() && mine.is_none_or(|m| m != theirs)
            };
            if differs(stored.map(|k| &k.primary), &shared.primary)
                || differs(stored.map(|k| &k.secondary), &shared.secondary)
            {
                changed.push("keys from keys_file".into());
            }
            if differs(stored.map(|k| &k.token_secret), &shared.token_secret) {
                changed.push("token-signing secret from token_signing_key_file".into());
            }
        } else if record.shared_credentials {
            changed.push("credentials no longer from files (the current ones are kept)".into());
        }
        let op = Op::UpdateEndpoint { decl: e.clone(), credentials };
        plan.update_or_unchanged("endpoint", &e.name, record.origin, changed, op);
    }
    Ok(())
}

fn plan_deployments(
    settings: &Settings,
    current: &Current,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    for d in &settings.deployments {
        let label = format!("{}/{}", d.endpoint, d.name);
        let what = format!("deployment {label}");
        let existing =
            current.deployments.iter().find(|r| r.endpoint == d.endpoint && r.name == d.name);
        let Some(record) = existing else {
            plan.steps.push(Step {
                action: Action::Create,
                kind: "deployment",
                name: label,
                detail: format!("model {} on {}:{}", d.model, d.target, d.device),
                op: Op::PutDeployment { decl: d.clone() },
            });
            continue;
        };
        owned(record.origin, &what)?;
        let target: Target = d.target.parse().map_err(|r: String| refuse(&what, r))?;
        let mut changed = Vec::new();
        if record.model != d.model {
            changed.push(format!("model {} → {}", record.model, d.model));
        }
        if record.target != target || record.device != d.device {
            changed.push(format!(
                "device {}:{} → {}:{}",
                record.target, record.device, target, d.device
            ));
        }
        for (field, old, new) in [
            ("instance_count", u64::from(record.instance_count), u64::from(d.instance_count)),
            ("max_batch_size", u64::from(record.max_batch_size), u64::from(d.max_batch_size)),
            ("batch_window_us", record.batch_window_us, d.batch_window_us),
            ("max_queue", u64::from(record.max_queue), u64::from(d.max_queue)),
        ] {
            if old != new {
                changed.push(format!("{field} {old} → {new}"));
            }
        }
        if current.failed.contains(&label) {
            changed.push("retry: it failed to load".into());
        }
        let op = Op::PutDeployment { decl: d.clone() };
        plan.update_or_unchanged("deployment", &label, record.origin, changed, op);
    }
    Ok(())
}

/// Objects declared before (origin `config`) and declared no longer.
fn plan_deletions(settings: &Settings, current: &Current, plan: &mut Plan) {
    let declared_endpoints: BTreeSet<&str> =
        settings.endpoints.iter().map(|e| e.name.as_str()).collect();
    let declared_deployments: BTreeSet<(&str, &str)> =
        settings.deployments.iter().map(|d| (d.endpoint.as_str(), d.name.as_str())).collect();
    for d in &current.deployments {
        let gone = !declared_deployments.contains(&(d.endpoint.as_str(), d.name.as_str()));
        // A deployment of an endpoint that goes is deleted with it.
        if gone
            && d.origin == Some(Origin::Config)
            && declared_endpoints.contains(d.endpoint.as_str())
        {
            plan.deleted_deployments.insert((d.endpoint.clone(), d.name.clone()));
            plan.steps.push(Step {
                action: Action::Delete,
                kind: "deployment",
                name: format!("{}/{}", d.endpoint, d.name),
                detail: "no longer declared".into(),
                op: Op::DeleteDeployment { endpoint: d.endpoint.clone(), name: d.name.clone() },
            });
        }
    }
    let mut going_endpoints = BTreeSet::new();
    for e in &current.endpoints {
        if e.origin == Some(Origin::Config) && !declared_endpoints.contains(e.name.as_str()) {
            going_endpoints.insert(e.name.as_str());
            plan.steps.push(Step {
                action: Action::Delete,
                kind: "endpoint",
                name: e.name.clone(),
                detail: "no longer declared (its deployments and role assignments go with it)"
                    .into(),
                op: Op::DeleteEndpoint { name: e.name.clone() },
            });
        }
    }
    let declared_models: BTreeSet<String> =
        settings.models.iter().map(|m| model_ref(&m.name, &m.version)).collect();
    for m in &current.models {
        let reference = model_ref(&m.name, &m.version);
        if m.origin != Some(Origin::Config) || declared_models.contains(&reference) {
            continue;
        }
        // Still used by a deployment that stays (one made with the CLI, or still declared)?
        let user = current.deployments.iter().find(|d| {
            d.model == reference
                && !going_endpoints.contains(d.endpoint.as_str())
                && !plan.deleted_deployments.contains(&(d.endpoint.clone(), d.name.clone()))
                && !settings
                    .deployments
                    .iter()
                    .any(|n| n.endpoint == d.endpoint && n.name == d.name && n.model != reference)
        });
        let declared_user = settings.deployments.iter().find(|d| d.model == reference);
        if let Some(d) = user {
            plan.notes.push(format!(
                "model {reference} is no longer declared but deployment {}/{} still uses it: kept",
                d.endpoint, d.name
            ));
            continue;
        }
        if let Some(d) = declared_user {
            plan.notes.push(format!(
                "model {reference} is no longer declared but deployment {}/{} is declared with \
                 it: kept",
                d.endpoint, d.name
            ));
            continue;
        }
        plan.steps.push(Step {
            action: Action::Delete,
            kind: "model",
            name: reference,
            detail: "no longer declared".into(),
            op: Op::DeleteModel { name: m.name.clone(), version: m.version.clone() },
        });
    }
}

fn plan_assignments(
    settings: &Settings,
    current: &Current,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    let triple = |a: &str, r: &str, s: &str| format!("{a} {r} {s}");
    let endpoints: BTreeSet<&str> = settings
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .chain(current.endpoints.iter().map(|e| e.name.as_str()))
        .collect();
    for a in &settings.role_assignments {
        let name = triple(&a.assignee, &a.role, &a.scope);
        let what = format!("role assignment {name}");
        if !current.roles.contains(&a.role) {
            return Err(refuse(
                what,
                format!("role {} does not exist (see `edgeserve role list`)", a.role),
            ));
        }
        if let Some(endpoint) = a.scope.strip_prefix("/endpoints/") {
            if !endpoints.contains(endpoint) {
                return Err(refuse(
                    what,
                    format!("scope names endpoint {endpoint}, which is neither declared nor made"),
                ));
            }
        }
        let exists = current
            .assignments
            .iter()
            .any(|x| x.assignee == a.assignee && x.role == a.role && x.scope == a.scope);
        if exists {
            plan.unchanged += 1;
            continue;
        }
        plan.steps.push(Step {
            action: Action::Create,
            kind: "role assignment",
            name,
            detail: String::new(),
            op: Op::Assign { decl: a.clone() },
        });
    }
    for x in &current.assignments {
        let declared = settings
            .role_assignments
            .iter()
            .any(|a| x.assignee == a.assignee && x.role == a.role && x.scope == a.scope);
        if x.origin == Some(Origin::Config) && !declared {
            plan.steps.push(Step {
                action: Action::Delete,
                kind: "role assignment",
                name: triple(&x.assignee, &x.role, &x.scope),
                detail: "no longer declared".into(),
                op: Op::Unassign { id: x.id.clone() },
            });
        }
    }
    Ok(())
}
