//! Writes an xclbin shaped like Vitis' vector-add example (kernel `vadd(in1, in2, out, size)`)
//! for the hardware test's `--noop` dry run: `cargo run -p edgeserve-accel --example noop_xclbin
//! -- OUT.xclbin`. It has no bitstream; only XRT's no-op shim accepts it.

use edgeserve_accel::fpga::xclbin::builder::{ArgSpec, XclbinBuilder};

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: noop_xclbin OUT.xclbin");
        std::process::exit(2);
    };
    let args = vec![
        ArgSpec::buffer("in1", 0),
        ArgSpec::buffer("in2", 0),
        ArgSpec::buffer("out", 0),
        ArgSpec::scalar("size"),
    ];
    let bytes = XclbinBuilder::new("noop_platform").kernel("vadd", 1, args).build();
    if let Err(e) = std::fs::write(&out, bytes) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
}
