//! Finding and loading XRT's user-space library at run time.

use std::path::PathBuf;

use crate::Xrt;

/// The XRT library holding the C API (device, xclbin, kernel, buffer and run calls).
pub const LIBRARY: &str = "libxrt_coreutil.so.2";

/// XRT could not be loaded.
#[derive(Debug)]
pub struct LoadError {
    /// Every place tried, with the loader's answer.
    pub tried: Vec<(String, String)>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XRT runtime not found (")?;
        for (i, (path, why)) in self.tried.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{path}: {why}")?;
        }
        write!(f, "); install XRT (Debian: libxrt1) or set XILINX_XRT")
    }
}

impl std::error::Error for LoadError {}

impl Xrt {
    /// Loads XRT: `$XILINX_XRT/lib/libxrt_coreutil.so.2` when `XILINX_XRT` is set, else the
    /// system's (the dynamic loader's search path) only. Every symbol edgeserve uses must resolve.
    pub fn load() -> Result<Xrt, LoadError> {
        // XILINX_XRT names the installation XRT itself will use (its shims are found there
        // too), so when it is set nothing else is tried.
        let candidates = match std::env::var_os("XILINX_XRT").filter(|v| !v.is_empty()) {
            Some(root) => vec![PathBuf::from(root).join("lib").join(LIBRARY)],
            None => vec![PathBuf::from(LIBRARY)],
        };
        let mut tried = Vec::new();
        for path in candidates {
            // SAFETY: loading XRT runs its library constructors, which only set up XRT's own
            // state; the symbols are typed by the bindings generated from its headers.
            match unsafe { Xrt::new(&path) } {
                Ok(xrt) => return Ok(xrt),
                Err(e) => tried.push((path.display().to_string(), e.to_string())),
            }
        }
        Err(LoadError { tried })
    }
}
