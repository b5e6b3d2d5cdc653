//! Pieces of the `edgeserve` CLI that are worth testing on their own.

pub mod args;
pub mod files;
pub mod manual;
pub mod render;
