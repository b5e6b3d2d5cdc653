//! Smoke run of the fuzz targets (`fuzz/`) on stable: the same entry points, fed seeds built
//! with the xclbin builder and many deterministic mutations of them (byte flips, truncations,
//! splices, integer fields set to edge values). Coverage-guided runs: `cargo +nightly fuzz run`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use edgeserve_accel::fpga::manifest::fuzz_parse as parse_manifest;
use edgeserve_accel::fpga::xclbin::builder::{ArgSpec, XclbinBuilder};
use edgeserve_accel::fpga::xclbin::fuzz_parse as parse_xclbin;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const EDGE_VALUES: [u64; 6] = [0, 1, 0x7fff_ffff, 0xffff_ffff, u64::MAX, u64::MAX / 2];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        if v.is_empty() {
            break;
        }
        match rng.below(4) {
            0 => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len())),
            2 => {
                // An 8-aligned integer field set to an edge value (counts, offsets, sizes).
                let at = rng.below(v.len() / 8) * 8;
                let value = EDGE_VALUES[rng.below(EDGE_VALUES.len())].to_le_bytes();
                let n = (v.len() - at).min(if rng.below(2) == 0 { 4 } else { 8 });
                v[at..at + n].copy_from_slice(&value[..n]);
            }
            _ => {
                let (a, b) = (rng.below(v.len()), rng.below(v.len()));
                let chunk: Vec<u8> = v[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(v.len());
                v.splice(at..at, chunk);
            }
        }
    }
    // Half the time, keep the header's m_length true, so mutations reach the sections.
    if v.len() >= 312 && rng.below(2) == 0 {
        let len = v.len() as u64;
        v[304..312].copy_from_slice(&len.to_le_bytes());
    }
    v
}

#[test]
fn xclbin_target_survives_mutations() {
    let seeds = [
        XclbinBuilder::new("xilinx_u250").model_kernel("mlp_infer").build(),
        XclbinBuilder::new("p")
            .kernel("vadd", 3, vec![ArgSpec::buffer("a", 0), ArgSpec::scalar("n")])
            .build(),
    ];
    let mut rng = Rng(0x5eed_0001);
    for i in 0..20_000 {
        let seed = &seeds[i % seeds.len()];
        parse_xclbin(&mutate(&mut rng, seed));
    }
}

#[test]
fn kernel_toml_target_survives_mutations() {
    let seed = b"kernel = \"mlp_infer\"\n[[input]]\nname = \"x\"\ndtype = \"f32\"\nshape = [-1, 4]\n\
        arg = 0\n[[output]]\nname = \"y\"\ndtype = \"f32\"\nshape = [-1, 3]\narg = 1\n[batch]\narg = 2\n";
    let mut rng = Rng(0x5eed_0002);
    for _ in 0..20_000 {
        parse_manifest(&mutate(&mut rng, seed));
    }
}
