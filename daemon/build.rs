//! Link settings for edgeserved and edgeserve: relative relocations packed (DT_RELR, glibc 2.36+
//! and binutils 2.38+, as in Debian 12 and Raspberry Pi OS bookworm). A position-independent
//! binary keeps one 24-byte relocation per pointer in its tables (vtables, string tables); packed,
//! they take a few kilobytes instead of over a megabyte, and ASLR is kept.
fn main() {
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    println!("cargo:rerun-if-changed=build.rs");
}
