//! Pieces of the `edgeserve` CLI that are worth testing on their own.

pub mod files;
pub mod render;
