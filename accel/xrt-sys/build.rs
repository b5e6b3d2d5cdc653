//! Builds the C++ exception guard. It needs only a C++ compiler: XRT itself is loaded at run
//! time (no XRT headers or libraries at build time, no libclang).

fn main() {
    println!("cargo:rerun-if-changed=src/guard.cpp");
    cc::Build::new().cpp(true).file("src/guard.cpp").warnings(true).compile("edgeserve_xrt_guard");
}
