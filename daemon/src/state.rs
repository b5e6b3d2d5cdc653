//! The daemon's shared state: settings, store, backends and the live routing table.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};

use serde::Serialize;

use edgeserve_accel::Backends;

use crate::config::Settings;
use crate::deploy::RoutingTable;
use crate::store::Store;

/// Everything handlers and the control plane share.
pub struct AppState {
    /// The configuration in force: swapped whole by a reload (SPEC §7). Listener addresses,
    /// the state dir and the control socket keep their start values until a restart.
    settings: RwLock<Arc<Settings>>,
    /// The sled store: models, endpoints, deployments, sealed keys, roles.
    pub store: Arc<Store>,
    /// The HAL's backends (CPU, GPU, FPGA), probed once at start.
    pub backends: Backends,
    /// `network.allowed_networks`, parsed; swapped with the settings.
    allowed_networks: RwLock<Arc<Vec<ipnet::IpNet>>>,
    /// `network.trusted_proxies`, parsed; swapped with the settings.
    trusted_proxies: RwLock<Arc<Vec<ipnet::IpNet>>>,
    /// Set by `systemctl stop` or `edgeserve drain`: readiness answers 503 while requests are
    /// still served, so load balancers move away (SPEC §7).
    draining: std::sync::atomic::AtomicBool,
    /// Where the config file is, so reloads read it again (set once at start).
    config_source: OnceLock<crate::reconcile::ConfigSource>,
    /// What the last reload did, for `edgeserve status` (None before the first).
    last_reload: std::sync::Mutex<Option<serde_json::Value>>,
    table: RwLock<Arc<RoutingTable>>,
    bound: OnceLock<Bound>,
    /// Serializes control-plane writes.
    pub writes: tokio::sync::Mutex<()>,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Failed authentications per peer.
    pub auth_limiter: crate::auth::limit::AuthFailureLimiter,
    tls: OnceLock<Arc<crate::listen::TlsState>>,
    /// The identity provider's keys for `oidc` endpoints (None without `[oidc]` settings);
    /// swapped whole on reload, the old keys kept when the new file is broken.
    oidc: RwLock<Option<Arc<crate::auth::oidc::OidcVerifier>>>,
    /// When the daemon started, for `status`'s uptime.
    pub started: std::time::Instant,
    /// Roles and assignments (SPEC §4), swapped whole like the routing table: authorization
    /// never reads the store.
    rbac: RwLock<Arc<crate::auth::rbac::RbacSnapshot>>,
}

/// Where the listeners ended up (ports may be chosen by the OS when configured as 0).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bound {
    /// Addresses the TLS listeners are bound to.
    pub tls: Vec<SocketAddr>,
    /// Addresses the plain listeners are bound to.
    pub plain: Vec<SocketAddr>,
    /// The port scoring URIs use for TLS endpoints (the first TLS listener's).
    pub tls_port: Option<u16>,
    /// The port scoring URIs use for plain endpoints.
    pub plain_port: Option<u16>,
    /// The metrics listener (`http://ADDR/metrics`).
    pub metrics: Option<SocketAddr>,
}

impl AppState {
    /// State around a routing table.
    pub fn new(
        settings: Settings,
        store: Arc<Store>,
        backends: Backends,
        table: RoutingTable,
    ) -> AppState {
        let allowed_networks = Arc::new(parse_networks(&settings.network.allowed_networks));
        let trusted_proxies = Arc::new(parse_networks(&settings.network.trusted_proxies));
        let auth_limiter =
            crate::auth::limit::AuthFailureLimiter::new(settings.limits.auth_failures_per_minute);
        let rbac = crate::auth::rbac::RbacSnapshot::builtin(&settings.daemon.admin_group);
        AppState {
            rbac: RwLock::new(Arc::new(rbac)),
            oidc: RwLock::new(None),
            started: std::time::Instant::now(),
            settings: RwLock::new(Arc::new(settings)),
            store,
            backends,
            allowed_networks: RwLock::new(allowed_networks),
            trusted_proxies: RwLock::new(trusted_proxies),
            draining: Default::default(),
            config_source: OnceLock::new(),
            last_reload: Default::default(),
            table: RwLock::new(Arc::new(table)),
            bound: OnceLock::new(),
            writes: tokio::sync::Mutex::new(()),
            metrics: crate::metrics::Metrics::new(),
            auth_limiter,
            tls: OnceLock::new(),
        }
    }

    /// The configuration in force (a cheap snapshot; a reload swaps in a new one).
    pub fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in reloaded settings for requests that start from now on.
    pub fn set_settings(&self, settings: Settings) {
        for (lock, nets) in [
            (&self.allowed_networks, &settings.network.allowed_networks),
            (&self.trusted_proxies, &settings.network.trusted_proxies),
        ] {
            let parsed = Arc::new(parse_networks(nets));
            match lock.write() {
                Ok(mut n) => *n = parsed,
                Err(poisoned) => *poisoned.into_inner() = parsed,
            }
        }
        let settings = Arc::new(settings);
        match self.settings.write() {
            Ok(mut s) => *s = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }

    /// `network.allowed_networks` in force.
    pub fn allowed_networks(&self) -> Arc<Vec<ipnet::IpNet>> {
        match self.allowed_networks.read() {
            Ok(n) => n.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records where the config came from (once, at start).
    pub fn set_config_source(&self, source: crate::reconcile::ConfigSource) {
        let _ = self.config_source.set(source);
    }

    /// Where the config came from, if recorded.
    pub fn config_source(&self) -> Option<&crate::reconcile::ConfigSource> {
        self.config_source.get()
    }

    /// `network.trusted_proxies` in force.
    pub fn trusted_proxies(&self) -> Arc<Vec<ipnet::IpNet>> {
        match self.trusted_proxies.read() {
            Ok(n) => n.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether the daemon is draining (readiness 503, SPEC §7).
    pub fn draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts (true) or ends (false) draining; returns the previous value.
    pub fn set_draining(&self, on: bool) -> bool {
        self.draining.swap(on, std::sync::atomic::Ordering::Relaxed)
    }

    /// Records what the last reload did (`edgeserve status` shows it).
    pub fn set_last_reload(&self, report: serde_json::Value) {
        match self.last_reload.lock() {
            Ok(mut r) => *r = Some(report),
            Err(poisoned) => *poisoned.into_inner() = Some(report),
        }
    }

    /// What the last reload did, if there was one.
    pub fn last_reload(&self) -> Option<serde_json::Value> {
        match self.last_reload.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The OIDC verifier in force, if `[oidc]` is configured.
    pub fn oidc(&self) -> Option<Arc<crate::auth::oidc::OidcVerifier>> {
        match self.oidc.read() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// (Re)reads `oidc.jwks_file` when `[oidc]` is configured; on error the keys in force stay.
    pub fn reload_oidc(&self) -> Result<(), crate::auth::oidc::OidcError> {
        let settings = self.settings();
        if settings.oidc.jwks_file.trim().is_empty() {
            self.set_oidc(None);
            return Ok(());
        }
        let verifier = crate::auth::oidc::OidcVerifier::load(&settings.oidc)?;
        self.set_oidc(Some(verifier));
        Ok(())
    }

    /// Installs a loaded OIDC verifier (or none, without `[oidc]`).
    pub fn set_oidc(&self, verifier: Option<crate::auth::oidc::OidcVerifier>) {
        let verifier = verifier.map(Arc::new);
        match self.oidc.write() {
            Ok(mut o) => *o = verifier,
            Err(poisoned) => *poisoned.into_inner() = verifier,
        }
    }

    /// The routing table now (a cheap snapshot; later swaps do not affect it).
    pub fn table(&self) -> Arc<RoutingTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The roles and assignments now (SPEC §4; a cheap snapshot, later swaps do not affect it).
    pub fn rbac(&self) -> Arc<crate::auth::rbac::RbacSnapshot> {
        match self.rbac.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads custom roles and assignments from the store and swaps them in for checks that
    /// start from now on. Control-plane writes call it after each role change, under `writes`.
    pub fn reload_rbac(&self) -> Result<(), crate::store::StoreError> {
        let snapshot = crate::auth::rbac::RbacSnapshot::new(
            self.store.role_definitions()?,
            self.store.role_assignments()?,
            &self.settings().daemon.admin_group,
        );
        let snapshot = Arc::new(snapshot);
        match self.rbac.write() {
            Ok(mut s) => *s = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(())
    }

    /// `limits.request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.settings().limits.request_timeout_ms)
    }

    /// Attaches the TLS listener's material (once, at start).
    pub fn set_tls(&self, tls: Arc<crate::listen::TlsState>) {
        let _ = self.tls.set(tls);
    }

    /// The TLS listener's material, if there is a TLS listener.
    pub fn tls(&self) -> Option<Arc<crate::listen::TlsState>> {
        self.tls.get().cloned()
    }

    /// The cname in force: the served TLS material's (after `tls set` or a reload), else the
    /// config file's `tls.cname`. Scoring URIs use it (SPEC §6).
    pub fn cname(&self) -> String {
        match self.tls() {
            Some(tls) => tls.current().0.cname,
            None => self.settings().tls.cname.clone(),
        }
    }

    /// Records where the listeners are bound (once, at start).
    pub fn set_bound(&self, bound: Bound) {
        let _ = self.bound.set(bound);
    }

    /// Where the listeners are bound.
    pub fn bound(&self) -> Bound {
        self.bound.get().cloned().unwrap_or_default()
    }

    /// Replaces the routing table for requests that start from now on.
    pub fn swap_table(&self, table: RoutingTable) {
        crate::systemd::notify_status(&table);
        let table = Arc::new(table);
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }
}

/// CIDRs parsed (validation has refused bad entries already).
fn parse_networks(nets: &[String]) -> Vec<ipnet::IpNet> {
    nets.iter().filter_map(|n| n.parse().ok()).collect()
}
