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
use crate::provision::{self, ProvisionError};
use crate::state::AppState;
use crate::store::{Store, StoreError, Transport};

/// Longest wait for in-flight requests when stopping.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    // Not `#[from]`: the message already carries the cause, so it is no `source()` to print again.
    #[error("TLS: {0}")]
    Tls(TlsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("provisioning from config: {0}")]
    Provision(ProvisionError),
    #[error(transparent)]
    Control(#[from] crate::control::ControlSocketError),
    #[error("cannot create {path}: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bind(#[from] listen::BindError),
    #[error(transparent)]
    Oidc(#[from] crate::auth::oidc::OidcError),
}

impl From<TlsError> for DaemonError {
    fn from(e: TlsError) -> DaemonError {
        DaemonError::Tls(e)
    }
}

impl From<ProvisionError> for DaemonError {
    fn from(e: ProvisionError) -> DaemonError {
        DaemonError::Provision(e)
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
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { master_key: None, base_dir: PathBuf::from("."), on_ready: None }
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
    provision::apply(&settings, &store, &backends, &options.base_dir)?;
    let table = crate::deploy::build_table(store.clone(), backends.clone()).await?;
    let app = Arc::new(AppState::new(settings, store, backends, table));
    app.reload_rbac()?;
    app.reload_oidc()?;
    if let Some(state) = tls_state {
        app.set_tls(state);
    }

    let limits = ConnectionLimits {
        max_connections: usize::try_from(app.settings.limits.max_connections).unwrap_or(usize::MAX),
        header_timeout: Duration::from_millis(app.settings.limits.header_timeout_ms),
        drain_timeout: DRAIN_TIMEOUT,
    };
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
        &app.settings.daemon.control_socket,
        &app.settings.daemon.admin_group,
        app.settings.daemon.control_socket_mode()?,
    )?;
    listeners.spawn(crate::control::serve_control(
        control,
        crate::control::router(app.clone()),
        app.settings.daemon.admin_group.clone(),
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
    wait_for_stop_signal(stop).await;
    crate::systemd::notify_stopping();
    tracing::info!("stopping: draining in-flight requests");
    let _ = stop_tx.send(true);
    while listeners.join_next().await.is_some() {}
    // A clean stop leaves no socket file behind (a stale one would look like a live daemon).
    if let Err(e) = std::fs::remove_file(&app.settings.daemon.control_socket) {
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

/// SIGHUP re-reads the TLS material from where it came from; a failure keeps what is served.
async fn reload_on_sighup(app: Arc<AppState>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler; reloads need a restart");
        return;
    };
    while hup.recv().await.is_some() {
        crate::systemd::notify_reloading();
        match app.reload_oidc() {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "OIDC keys not reloaded; the previous ones are still used")
            }
        }
        if let Some(tls) = app.tls() {
            let source = tls.current().0;
            tracing::info!(origin = source.origin, "SIGHUP: reloading TLS material");
            match tokio::task::spawn_blocking(move || tls.reload(source)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "TLS reload failed; the previous certificate is still served")
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload panicked; the previous certificate is still served")
                }
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
    signals: (
        std::io::Result<tokio::signal::unix::Signal>,
        std::io::Result<tokio::signal::unix::Signal>,
    ),
) {
    match signals {
        (Ok(mut term), Ok(mut int)) => {
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
