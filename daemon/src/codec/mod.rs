//! Request and response bodies: JSON arrays to tensors and back, in the seed's format and in
//! the Open Inference Protocol's.

pub mod binary;
pub mod fast;
pub mod nested;
pub mod oip;
pub mod scan;
pub mod seed;
pub mod split;
