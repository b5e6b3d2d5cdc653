//! What is served right now: endpoints, their live deployments and how traffic is split.

mod load;
mod table;
pub mod traffic;

pub use load::{build_table, load_deployment};
pub use table::{DeploymentState, LiveDeployment, LiveEndpoint, RoutingTable, DEGRADED_AFTER};
