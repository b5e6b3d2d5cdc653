//! The daemon's shared state: settings, store, backends and the live routing table.

use std::sync::{Arc, RwLock};

use edgeserve_accel::Backends;

use crate::config::Settings;
use crate::deploy::RoutingTable;
use crate::store::Store;

/// Everything handlers and the control plane share.
pub struct AppState {
    pub settings: Settings,
    pub store: Arc<Store>,
    pub backends: Backends,
    pub allowed_networks: Vec<ipnet::IpNet>,
    table: RwLock<Arc<RoutingTable>>,
}

impl AppState {
    /// State around a routing table.
    pub fn new(
        settings: Settings,
        store: Arc<Store>,
        backends: Backends,
        table: RoutingTable,
    ) -> AppState {
        let allowed_networks =
            settings.network.allowed_networks.iter().filter_map(|n| n.parse().ok()).collect();
        AppState {
            settings,
            store,
            backends,
            allowed_networks,
            table: RwLock::new(Arc::new(table)),
        }
    }

    /// The routing table now (a cheap snapshot; later swaps do not affect it).
    pub fn table(&self) -> Arc<RoutingTable> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the routing table for requests that start from now on.
    pub fn swap_table(&self, table: RoutingTable) {
        let table = Arc::new(table);
        match self.table.write() {
            Ok(mut t) => *t = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }
}
