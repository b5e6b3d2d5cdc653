//! edgeserved, the edge inference daemon: serves models loaded through the HAL to the local
//! network over key-authenticated HTTP.
//!
//! A scoring request flows `listen/` (TLS, connections) → `route/` (routes, request ids) →
//! `auth/` (credentials) → `deploy/` (endpoint, traffic split) → `batch/` (bounded queue,
//! worker threads) → the HAL; `codec/` turns bodies into tensors and back, `error.rs` turns
//! failures into JSON responses. `store/` keeps state in sled, `config/` reads the config file.

pub mod auth;
pub mod batch;
pub mod bench;
pub mod cli;
pub mod codec;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod deploy;
pub mod devcert;
pub mod error;
pub mod fuzz;
pub mod listen;
pub mod log_writer;
pub mod manage;
pub mod memory;
pub mod metrics;
pub mod names;
pub mod reconcile;
pub mod route;
pub mod state;
pub mod store;
pub mod systemd;
