//! Bindings to Xilinx XRT's C API, made by bindgen from XRT's headers (`src/bindings.rs`,
//! checked against the installed headers by `tests/regenerate.rs`).
//!
//! XRT is loaded at run time ([`Xrt::load`]): a box without XRT builds and runs edgeserve, and
//! only the FPGA target reports "XRT runtime not found". Every call should run inside [`guard`],
//! which catches C++ exceptions escaping XRT's C layer.

// Generated code: bindgen documents what XRT's headers document and writes no SAFETY comments.
#[allow(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    clippy::all,
    clippy::pedantic,
    unsafe_op_in_unsafe_fn
)]
mod bindings;

mod guard;
mod load;

pub use bindings::*;
pub use guard::{guard, run_set_arg_bo, run_set_arg_u32, Exception};
pub use load::{LoadError, LIBRARY};

#[cfg(test)]
mod tests {
    use super::*;

    extern "C-unwind" {
        fn edgeserve_xrt_guard_selftest_throw(what: *const std::ffi::c_char);
    }

    #[test]
    fn a_cpp_exception_becomes_an_error_not_an_abort() {
        let err = guard(|| {
            // SAFETY: a test function that throws a C++ exception.
            unsafe { edgeserve_xrt_guard_selftest_throw(c"xclbin uuid mismatch".as_ptr()) };
            7
        })
        .unwrap_err();
        assert_eq!(err, Exception("xclbin uuid mismatch".into()));
        assert_eq!(guard(|| 7), Ok(7), "the guard works again after an exception");
    }
}
