//! The network side: TLS and plain listeners, and the per-connection HTTP service.

mod bind;
mod connection;
pub mod early;
pub mod linger;
pub mod material;
mod tls_config;
mod tls_state;

pub use bind::{listeners, BindError, Role};
pub use connection::{
    http_builder, serve_connection, serve_listener, tagged, ConnectionLimits, Shutdown, Slots,
};
pub use material::TlsError;
pub use tls_config::{provider, server_config, CertResolver};
pub use tls_state::{install, PreparedTls, TlsSource, TlsState};
