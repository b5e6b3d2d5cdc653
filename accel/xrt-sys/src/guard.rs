//! Runs XRT calls inside the C++ guard (`guard.cpp`), so an exception escaping XRT's C layer
//! becomes an [`Exception`] instead of aborting the process.

use std::ffi::{c_char, c_int, c_void, CStr};

use crate::{xrtBufferHandle, xrtRunHandle, Xrt};

extern "C-unwind" {
    fn edgeserve_xrt_guard(
        body: extern "C-unwind" fn(*mut c_void),
        ctx: *mut c_void,
        msg: *mut c_char,
        len: usize,
    ) -> c_int;
    fn edgeserve_xrt_run_set_arg_bo(
        f: *mut c_void,
        run: xrtRunHandle,
        index: c_int,
        bo: xrtBufferHandle,
    ) -> c_int;
    fn edgeserve_xrt_run_set_arg_u32(
        f: *mut c_void,
        run: xrtRunHandle,
        index: c_int,
        value: u32,
    ) -> c_int;
}

/// A C++ exception thrown through XRT's C API, with its `what()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception(pub String);

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "C++ exception: {}", self.0)
    }
}

impl std::error::Error for Exception {}

struct Call<F, R> {
    body: Option<F>,
    result: Option<R>,
}

extern "C-unwind" fn trampoline<F: FnOnce() -> R, R>(ctx: *mut c_void) {
    // SAFETY: `ctx` is the `Call` that `guard` passed, alive for the whole guarded call.
    let call = unsafe { &mut *ctx.cast::<Call<F, R>>() };
    if let Some(body) = call.body.take() {
        call.result = Some(body());
    }
}

/// Runs `body` (XRT calls) inside a C++ `try`/`catch`. A C++ exception unwinds through
/// `body`'s frames (declared `C-unwind`, so this is defined) into the guard and is returned.
/// `body` must not own values needing drop across the XRT call that an unwind would skip in a
/// way that matters (handles are wrapped by the caller after the call returns).
pub fn guard<R>(body: impl FnOnce() -> R) -> Result<R, Exception> {
    fn run<F: FnOnce() -> R, R>(body: F) -> Result<R, Exception> {
        let mut call = Call { body: Some(body), result: None };
        let mut msg = [0 as c_char; 512];
        // SAFETY: the trampoline matches `call`'s type; `msg` outlives the call.
        let code = unsafe {
            edgeserve_xrt_guard(
                trampoline::<F, R>,
                (&mut call as *mut Call<F, R>).cast(),
                msg.as_mut_ptr(),
                msg.len(),
            )
        };
        match (code, call.result) {
            (0, Some(r)) => Ok(r),
            _ => {
                // SAFETY: the guard NUL-terminates within `msg`.
                let text = unsafe { CStr::from_ptr(msg.as_ptr()) };
                Err(Exception(text.to_string_lossy().into_owned()))
            }
        }
    }
    run(body)
}

/// `xrtRunSetArg(run, index, bo)` without a variadic call from Rust.
///
/// # Safety
/// `run` and `bo` must be live XRT handles from `xrt`.
pub unsafe fn run_set_arg_bo(
    xrt: &Xrt,
    run: xrtRunHandle,
    index: c_int,
    bo: xrtBufferHandle,
) -> c_int {
    // SAFETY: forwards the caller's guarantees; the pointer is XRT's own xrtRunSetArg.
    unsafe { edgeserve_xrt_run_set_arg_bo(xrt.xrtRunSetArg as *mut c_void, run, index, bo) }
}

/// `xrtRunSetArg(run, index, value)` for a 32-bit scalar argument.
///
/// # Safety
/// `run` must be a live XRT run handle from `xrt`.
pub unsafe fn run_set_arg_u32(xrt: &Xrt, run: xrtRunHandle, index: c_int, value: u32) -> c_int {
    // SAFETY: as above.
    unsafe { edgeserve_xrt_run_set_arg_u32(xrt.xrtRunSetArg as *mut c_void, run, index, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_comes_back() {
        assert_eq!(guard(|| 41 + 1), Ok(42));
    }
}
