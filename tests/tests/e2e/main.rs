//! End-to-end tests: the real `edgeserved` and `edgeserve` binaries as processes, real TLS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth_modes;
mod batching;
mod bench;
mod certificates;
mod cli_help;
mod clients;
mod config_errors;
mod config_reference;
mod control;
mod durability;
mod early_answers;
mod exporter_parity;
mod exporters;
mod fleet;
mod faults;
mod fpga;
mod gpu;
mod mcu;
mod memory;
mod metrics;
mod oidc;
mod oip;
mod operator;
mod operator_ux;
mod packaging;
mod rbac;
mod reconcile;
mod proxy;
mod reference;
mod restart;
mod scoring;
mod slow_clients;
mod systemd;
mod tls;
