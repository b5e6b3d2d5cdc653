//! Starting and stopping the daemon: TLS material, store, provisioning, deployments,
//! listeners, and a bounded drain on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use edgeserve_accel::Backends;
use tokio_rustls::TlsAcceptor;

use crate::config::{ConfigError, Settings};
use crate::listen::{self, ConnectionLimits, TlsError};
use crate::state::AppState;
use crate::store::{Store, StoreError, Transport};

/// Longest wait for in-flight requests when stopping.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error(transparent)]
    /// The config file or an override is refused.
    Config(#[from] ConfigError),
    // Not `#[from]`: the message already carries the cause, so it is no `source()` to print again.
    #[error("TLS: {0}")]
    /// The TLS certificate, key or cname is refused.
    Tls(TlsError),
    #[error(transparent)]
    /// The store or the master key cannot be opened.
    Store(#[from] StoreError),
    #[error("declarations in the config: {0}")]
    /// The config's `[[model]]`/`[[endpoint]]`/... declarations contradict each other or the store.
    Plan(crate::reconcile::PlanError),
    #[error("declarations in the config could not be applied: {}", .0.join("; "))]
    /// Declarations that could not be applied at start, one message each.
    Declared(Vec<String>),
    #[error(transparent)]
    /// The control socket cannot be created.
    Control(#[from] crate::control::ControlSocketError),
    #[error("cannot create {path}: {source}")]
    /// `daemon.state_dir` (or a folder in it) cannot be created.
    StateDir {
        /// The folder.
        path: PathBuf,
        /// The create's error.
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    /// A listener address cannot be bound (in use, not local, no permission).
    Bind(#[from] listen::BindError),
    #[error(transparent)]
    /// `[oidc]` is incomplete or its JWKS file is unusable while an endpoint needs it.
    Oidc(#[from] crate::auth::oidc::OidcError),
}

impl From<TlsError> for DaemonError {
    fn from(e: TlsError) -> DaemonError {
        DaemonError::Tls(e)
    }
}

impl From<crate::reconcile::PlanError> for DaemonError {
    fn from(e: crate::reconcile::PlanError) -> DaemonError {
        DaemonError::Plan(e)
    }
}

/// Called once the daemon is ready, with its state and the addresses it listens on.
pub type OnReady = Box<dyn FnOnce(&AppState, &[SocketAddr]) + Send>;

/// How to run, beyond the config file.
pub struct RunOptions {
    /// A master key file that wins over `daemon.master_key` (the demo's own key); `None` reads
    /// `daemon.master_key` (default: the systemd credential, else /etc/edgeserve/master.key).
    pub master_key: Option<PathBuf>,
    /// Folder that relative paths in the config file are taken from.
    pub base_dir: PathBuf,
    /// Called once every listener is bound and every declared deployment is loaded.
    pub on_ready: Option<OnReady>,
    /// `--config`, read again on reload (`None`: the default path).
    pub config_path: Option<PathBuf>,
    /// The settings were made in memory (the demo): reloads re-read TLS and the JWKS only.
    pub in_memory_config: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            master_key: None,
            base_dir: PathBuf::from("."),
            on_ready: None,
            config_path: None,
            in_memory_config: false,
        }
    }
}

/// Checks everything the daemon would refuse at start, without serving: config, TLS material.
pub fn check(settings: &Settings, base_dir: &std::path::Path) -> Result<(), DaemonError> {
    settings.validate()?;
    // Declared models must exist where the daemon will read them (relative to the config).
    for (i, m) in settings.models.iter().enumerate() {
        let path = base_dir.join(&m.path);
        if !path.exists() {
            return Err(DaemonError::Config(ConfigError::Invalid {
                key: format!("model[{i}].path"),
                reason: format!(
                    "{} does not exist (relative paths are read from {})",
                    path.display(),
                    base_dir.display()
                ),
            }));
        }
    }
    // Deployments may use models registered with the CLI, which this check cannot see: say so.
    for d in &settings.deployments {
        let declared =
            settings.models.iter().any(|m| format!("{}:{}", m.name, m.version) == d.model);
        if !declared {
            tracing::warn!(deployment = %format!("{}/{}", d.endpoint, d.name), model = %d.model, "the model is not declared in this file: it must already be registered (edgeserve model register), or the deployment will be Failed");
        }
    }
    if !settings.tls.listen.is_empty() {
        let state = load_tls(settings)?;
        let client_ca = Some(settings.tls.client_ca_pem.as_str())
            .filter(|p| !p.is_empty())
            .map(std::path::Path::new);
        listen::server_config(state.resolver.clone(), client_ca)?;
    }
    Ok(())
}

/// What reconciling `settings`' declarations would change (`edgeserved --check-config`): asked
/// of the running daemon through its control socket when one answers (it holds the store's
/// lock), else read from the store directly, else (no store yet) everything is to create.
/// Nothing is changed either way. Returns the plan as text.
pub async fn check_plan(
    settings: &Settings,
    config_path: Option<&std::path::Path>,
    base_dir: &std::path::Path,
) -> Result<String, DaemonError> {
    let text = match config_path {
        Some(path) => std::fs::read_to_string(path).map_err(|source| {
            DaemonError::Config(ConfigError::Read { path: path.to_path_buf(), source })
        })?,
        None => std::fs::read_to_string(crate::config::DEFAULT_CONFIG_PATH).unwrap_or_default(),
    };
    let base_dir_abs = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
    let client = crate::control::ControlClient::new(
        &settings.daemon.control_socket,
        Duration::from_secs(60),
    );
    let asked = client
        .call(
            axum::http::Method::POST,
            "/config/plan",
            Some(&serde_json::json!({ "toml": text, "base_dir": base_dir_abs })),
        )
        .await;
    match asked {
        Ok(answer) => {
            return Ok(format!(
                "{}(compared with the running daemon's store)\n",
                answer["plan"].as_str().unwrap_or_default()
            ))
        }
        Err(crate::control::ControlError::Api { message, .. }) => {
            return Err(DaemonError::Declared(vec![message]))
        }
        Err(e) => tracing::debug!(error = %e, "no running daemon to ask for the plan"),
    }
    let master_key = settings.daemon.master_key_path();
    let store_dir = settings.daemon.state_dir.join("store");
    let settings = settings.clone();
    let base_dir = base_dir.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<String, DaemonError> {
        let backends = Backends::builtin_with(None, DRAIN_TIMEOUT);
        let (current, whence) = if store_dir.exists() && master_key.exists() {
            let store = Store::open(&settings.daemon.state_dir, &master_key)?;
            let current = crate::reconcile::Current::read(&store, &settings.daemon.admin_group)?;
            (current, "the store")
        } else {
            let current = crate::reconcile::Current::empty(&settings.daemon.admin_group);
            (current, "an empty store (first start)")
        };
        let plan = crate::reconcile::plan(&settings, &base_dir, &current, &backends)?;
        Ok(format!("{}(compared with {whence})\n", plan.render()))
    })
    .await
    .map_err(|e| DaemonError::Declared(vec![format!("planning panicked: {e}")]))?
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(settings: Settings, options: RunOptions) -> Result<(), DaemonError> {
    let addrs = settings.validate()?;
    let (tls, tls_state) = if addrs.tls.is_empty() {
        (None, None)
    } else {
        let state = Arc::new(load_tls(&settings)?);
        let client_ca = Some(settings.tls.client_ca_pem.as_str())
            .filter(|p| !p.is_empty())
            .map(std::path::Path::new);
        let config = listen::server_config(state.resolver.clone(), client_ca)?;
        (Some(TlsAcceptor::from(config)), Some(state))
    };

    let state_dir = settings.daemon.state_dir.clone();
    std::fs::create_dir_all(&state_dir)
        .map_err(|source| DaemonError::StateDir { path: state_dir.clone(), source })?;
    let master_key =
        options.master_key.clone().unwrap_or_else(|| settings.daemon.master_key_path());
    let store = Arc::new(Store::open(&state_dir, &master_key)?);
    let backends = Backends::builtin_with(
        Some(&state_dir.join("cache")),
        std::time::Duration::from_millis(settings.limits.request_timeout_ms),
    );
    let table = crate::deploy::build_table(store.clone(), backends.clone()).await?;
    let app = Arc::new(AppState::new(settings, store, backends, table));
    app.reload_rbac()?;
    app.reload_oidc()?;
    let base_dir = std::path::absolute(&options.base_dir).unwrap_or(options.base_dir.clone());
    app.set_config_source(crate::reconcile::ConfigSource {
        path: options.config_path.clone(),
        in_memory: options.in_memory_config,
        base_dir,
    });
    apply_declarations(&app).await?;
    if let Some(state) = tls_state {
        app.set_tls(state);
    }

    let limits = ConnectionLimits::from_settings(&app.settings().limits, DRAIN_TIMEOUT);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut listeners = tokio::task::JoinSet::new();
    let mut bound = Vec::new();
    let mut where_bound = crate::state::Bound::default();
    let activated = crate::systemd::activated_listeners();
    for (listener, role) in listen::listeners(&addrs, activated).await? {
        let Ok(local) = listener.local_addr() else { continue };
        tracing::info!(listen = %local, transport = ?role, "listening");
        let (transport, acceptor) = match role {
            listen::Role::Metrics => {
                where_bound.metrics.get_or_insert(local);
                listeners.spawn(crate::metrics::serve_metrics(
                    listener,
                    app.clone(),
                    limits,
                    stop_rx.clone(),
                ));
                continue;
            }
            listen::Role::Tls => {
                where_bound.tls.push(local);
                where_bound.tls_port.get_or_insert(local.port());
                (Transport::Tls, tls.clone())
            }
            listen::Role::Plain => {
                where_bound.plain.push(local);
                where_bound.plain_port.get_or_insert(local.port());
                (Transport::Plain, None)
            }
        };
        bound.push(local);
        let router = crate::route::router(app.clone(), transport);
        listeners.spawn(listen::serve_listener(
            listener,
            acceptor,
            router,
            limits,
            stop_rx.clone(),
        ));
    }
    app.set_bound(where_bound);
    let control = crate::control::bind_control_socket(
        &app.settings().daemon.control_socket,
        &app.settings().daemon.admin_group,
        app.settings().daemon.control_socket_mode()?,
    )?;
    listeners.spawn(crate::control::serve_control(
        control,
        crate::control::router(app.clone()),
        app.settings().daemon.admin_group.clone(),
        limits.control(&app.settings().limits),
        stop_rx.clone(),
    ));

    let table = app.table();
    let served: Vec<String> = table.endpoints.keys().cloned().collect();
    let stop = stop_signals();
    tracing::info!(endpoints = ?served, ready = table.all_ready(), "edgeserved ready");
    crate::systemd::notify_ready(&table);
    crate::systemd::spawn_watchdog();
    if let Some(on_ready) = options.on_ready {
        on_ready(&app, &bound);
    }

    tokio::spawn(reload_on_sighup(app.clone()));
    crate::memory::spawn_trimmer();
    let mut stop = stop;
    wait_for_stop_signal(&mut stop).await;
    crate::systemd::notify_stopping();
    // Readiness turns 503 first and scoring goes on, so load balancers move away (SPEC §7);
    // a second stop signal cuts the grace short.
    let grace = Duration::from_millis(app.settings().limits.drain_grace_ms);
    app.set_draining(true);
    if !grace.is_zero() {
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "stopping: readiness is 503, still serving while load balancers move away"
        );
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            _ = wait_for_stop_signal(&mut stop) => {
                tracing::info!("second stop signal: ending the drain grace early");
            }
        }
    }
    tracing::info!("stopping: draining in-flight requests");
    let _ = stop_tx.send(true);
    while listeners.join_next().await.is_some() {}
    // A clean stop leaves no socket file behind (a stale one would look like a live daemon).
    if let Err(e) = std::fs::remove_file(&app.settings().daemon.control_socket) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot remove the control socket file");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The folder where `edgeserve tls set` installs material, under the state dir.
pub fn installed_tls_dir(settings: &Settings) -> PathBuf {
    settings.daemon.state_dir.join("tls")
}

/// Where TLS material comes from: what `tls set` installed, else the config file's paths.
pub fn tls_source(settings: &Settings) -> listen::TlsSource {
    let dir = installed_tls_dir(settings);
    if let Ok(cname) = std::fs::read_to_string(dir.join("cname")) {
        return listen::TlsSource {
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
            cname: cname.trim().to_string(),
            origin: "control-plane",
        };
    }
    listen::TlsSource {
        cert_pem: settings.tls.cert_pem.clone(),
        key_pem: settings.tls.key_pem.clone(),
        cname: settings.tls.cname.clone(),
        origin: "config",
    }
}

/// Loads the TLS material; if what `tls set` installed no longer loads, says so and falls back
/// to the config file's.
fn load_tls(settings: &Settings) -> Result<listen::TlsState, TlsError> {
    let source = tls_source(settings);
    if source.origin == "config" {
        return listen::TlsState::load(source);
    }
    listen::TlsState::load(source).or_else(|e| {
        tracing::error!(error = %e, "the TLS material installed by `edgeserve tls set` does not load; serving the config file's");
        listen::TlsState::load(listen::TlsSource {
            cert_pem: settings.tls.cert_pem.clone(),
            key_pem: settings.tls.key_pem.clone(),
            cname: settings.tls.cname.clone(),
            origin: "config",
        })
    })
}

/// Reconciles the config's declarations at start (SPEC §6): plan against the store, then
/// apply through the CLI's write path. A declaration that cannot be applied stops the start,
/// except deployments that fail to load, which are kept as `Failed`.
async fn apply_declarations(app: &Arc<AppState>) -> Result<(), DaemonError> {
    let settings = app.settings();
    let Some(source) = app.config_source().cloned() else { return Ok(()) };
    let store = app.store.clone();
    let backends = app.backends.clone();
    let plan = tokio::task::spawn_blocking(move || {
        let current = crate::reconcile::Current::read(&store, &settings.daemon.admin_group)?;
        crate::reconcile::plan(&settings, &source.base_dir, &current, &backends)
    })
    .await
    .map_err(|e| DaemonError::Declared(vec![format!("planning panicked: {e}")]))??;
    if plan.is_empty() {
        return Ok(());
    }
    let applied =
        crate::reconcile::apply(app, &plan, crate::manage::deployments::OnFailure::KeepFailed)
            .await;
    let fatal: Vec<String> = applied
        .failed
        .iter()
        .filter(|line| line.split(' ').nth(1) != Some("deployment"))
        .cloned()
        .collect();
    if !fatal.is_empty() {
        return Err(DaemonError::Declared(fatal));
    }
    Ok(())
}

/// SIGHUP (`systemctl reload`) re-reads the config, TLS material and JWKS and reconciles the
/// declarations; a broken file changes nothing (SPEC §7).
async fn reload_on_sighup(app: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reloads need a restart");
        return;
    };
    while hup.recv().await.is_some() {
        crate::systemd::notify_reloading();
        tracing::info!("SIGHUP: reloading the config, TLS material and identity-provider keys");
        match crate::reconcile::reload(&app).await {
            Ok(applied) if applied.failed.is_empty() => {
                tracing::info!(changes = applied.done.len(), "reload done")
            }
            Ok(applied) => tracing::error!(
                failed = ?applied.failed,
                "reload applied with failures; see `edgeserve status`"
            ),
            Err(e) => {
                let error = crate::error::chain_text(std::iter::successors(
                    Some(&e as &(dyn std::error::Error + 'static)),
                    |e| e.source(),
                ));
                match e {
                    crate::reconcile::ReloadError::Tls(_) => {
                        tracing::error!(%error, "TLS reload failed; the previous certificate is still served")
                    }
                    crate::reconcile::ReloadError::Oidc(_) => {
                        tracing::error!(%error, "OIDC keys not reloaded; the previous ones are still used")
                    }
                    _ => {}
                }
                tracing::error!(%error, "reload refused: nothing changed, the previous config stays in force")
            }
        }
        crate::systemd::notify_ready(&app.table());
    }
}

/// SIGTERM and SIGINT handlers, installed before the daemon says it is ready, so a stop sent
/// right after readiness is a clean stop, not the default kill.
fn stop_signals(
) -> (std::io::Result<tokio::signal::unix::Signal>, std::io::Result<tokio::signal::unix::Signal>) {
    use tokio::signal::unix::{signal, SignalKind};
    (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
}

async fn wait_for_stop_signal(
    signals: &mut (
        std::io::Result<tokio::signal::unix::Signal>,
        std::io::Result<tokio::signal::unix::Signal>,
    ),
) {
    match signals {
        (Ok(term), Ok(int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stopping only with the process");
            std::future::pending::<()>().await;
        }
    }
}
