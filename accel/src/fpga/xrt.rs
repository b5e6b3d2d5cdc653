//! A safe face on XRT's C API (`xrt-sys`): handle types that close themselves on drop, every
//! call inside the C++ exception guard, every failure an [`XrtError`] naming the call.
//!
//! Called only from worker and blocking threads (loading, `device list`, runs), never from
//! the async runtime.

use std::ffi::{c_int, CString};
use std::sync::OnceLock;
use std::time::Duration;

use xrt_sys::{
    ert_cmd_state_ERT_CMD_STATE_COMPLETED as COMPLETED, guard, xclBOSyncDirection,
    xclBOSyncDirection_XCL_BO_SYNC_BO_FROM_DEVICE as FROM_DEVICE,
    xclBOSyncDirection_XCL_BO_SYNC_BO_TO_DEVICE as TO_DEVICE, xrtBufferHandle, xrtDeviceHandle,
    xrtKernelHandle, xrtRunHandle, xrtXclbinHandle, Xrt,
};

/// A failed XRT call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XrtError {
    #[error("{0}")]
    /// XRT's library cannot be loaded; the message lists where it was looked for.
    NotFound(String),
    #[error("XRT {call} failed: {reason}")]
    /// An XRT call returned an error code (or a null handle).
    Call {
        /// The XRT function (`xrtDeviceOpen`, ...).
        call: &'static str,
        /// Its return code or errno, as text.
        reason: String,
    },
    #[error("XRT {call} threw: {what}")]
    /// An XRT call threw a C++ exception, caught by the guard.
    Exception {
        /// The XRT function.
        call: &'static str,
        /// The C++ exception's `what()`.
        what: String,
    },
    #[error("XRT {call}: the kernel did not finish within {millis} ms")]
    /// A run did not finish in time.
    Timeout {
        /// The XRT function that waited (`xrtRunWaitFor`).
        call: &'static str,
        /// The limit, in milliseconds.
        millis: u64,
    },
}

/// XRT, loaded once per process.
pub(crate) fn runtime() -> Result<&'static Xrt, XrtError> {
    static XRT: OnceLock<Result<Xrt, String>> = OnceLock::new();
    XRT.get_or_init(|| Xrt::load().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| XrtError::NotFound(e.clone()))
}

/// Runs one XRT call in the guard, with errno cleared first so a failure's errno is its own.
fn call<R>(name: &'static str, body: impl FnOnce() -> R) -> Result<R, XrtError> {
    nix::errno::Errno::clear();
    guard(body).map_err(|e| XrtError::Exception { call: name, what: e.0 })
}

/// Every XRT call that succeeded is logged at debug level (`edgeserve_accel::fpga=debug`).
fn succeeded(name: &'static str) {
    tracing::debug!(call = %name, "XRT call succeeded");
}

/// What XRT left in errno (its C API sets it from the error it caught).
fn reason() -> String {
    match nix::errno::Errno::last() {
        nix::errno::Errno::UnknownErrno => "no reason given (see XRT's messages in the log)".into(),
        e => format!("{} ({})", e.desc(), e as i32),
    }
}

fn check_handle(name: &'static str, h: *mut std::ffi::c_void) -> Result<(), XrtError> {
    if h.is_null() {
        Err(XrtError::Call { call: name, reason: reason() })
    } else {
        succeeded(name);
        Ok(())
    }
}

fn check_code(name: &'static str, code: c_int) -> Result<(), XrtError> {
    if code == 0 {
        succeeded(name);
        Ok(())
    } else {
        let r = reason();
        Err(XrtError::Call { call: name, reason: format!("returned {code}; {r}") })
    }
}

/// An open device (`xrtDeviceOpen`).
pub(crate) struct Device {
    xrt: &'static Xrt,
    h: xrtDeviceHandle,
}

// SAFETY: an XRT device handle may be used from any thread; edgeserve uses each from one
// thread at a time (`&mut` through the model).
unsafe impl Send for Device {}

impl Device {
    pub fn open(index: u32) -> Result<Device, XrtError> {
        let xrt = runtime()?;
        // SAFETY: a plain call with an integer.
        let h = call("xrtDeviceOpen", || unsafe { xrt.xrtDeviceOpen(index) })?;
        check_handle("xrtDeviceOpen", h)?;
        Ok(Device { xrt, h })
    }

    /// Loads a (validated) xclbin onto the device.
    pub fn load(&self, xclbin: &XclbinHandle) -> Result<(), XrtError> {
        let (xrt, h, x) = (self.xrt, self.h, xclbin.h);
        // SAFETY: both handles are live.
        let code =
            call("xrtDeviceLoadXclbinHandle", || unsafe { xrt.xrtDeviceLoadXclbinHandle(h, x) })?;
        check_code("xrtDeviceLoadXclbinHandle", code)?;
        Ok(())
    }

    /// Opens kernel `name` of the loaded xclbin `uuid`.
    pub fn kernel(&self, uuid: &[u8; 16], name: &str) -> Result<Kernel, XrtError> {
        let c = CString::new(name).map_err(|_| XrtError::Call {
            call: "xrtPLKernelOpen",
            reason: format!("kernel name {name:?} contains NUL"),
        })?;
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live device handle; `uuid` is 16 bytes; `c` outlives the call.
        let k = call("xrtPLKernelOpen", || unsafe {
            xrt.xrtPLKernelOpen(h, uuid.as_ptr(), c.as_ptr())
        })?;
        check_handle("xrtPLKernelOpen", k)?;
        Ok(Kernel { xrt, h: k })
    }

    /// A device buffer of `size` bytes in memory group `group`.
    pub fn alloc(&self, size: usize, group: u32) -> Result<Bo, XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live device handle; flags 0 is XRT's normal buffer.
        let b = call("xrtBOAlloc", || unsafe { xrt.xrtBOAlloc(h, size.max(1), 0, group) })?;
        check_handle("xrtBOAlloc", b)?;
        Ok(Bo { xrt, h: b, size })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: the handle is live and closed once.
        match call("xrtDeviceClose", || unsafe { xrt.xrtDeviceClose(h) }) {
            Ok(0) => {}
            other => tracing::warn!(?other, "XRT xrtDeviceClose failed"),
        }
    }
}

/// An xclbin read by XRT (`xrtXclbinAllocRawData`).
pub(crate) struct XclbinHandle {
    xrt: &'static Xrt,
    h: xrtXclbinHandle,
}

// SAFETY: see `Device`.
unsafe impl Send for XclbinHandle {}

impl XclbinHandle {
    /// Hands bytes (already validated by [`super::xclbin::Xclbin::parse`]) to XRT.
    pub fn from_bytes(bytes: &[u8]) -> Result<XclbinHandle, XrtError> {
        let xrt = runtime()?;
        let len = c_int::try_from(bytes.len()).map_err(|_| XrtError::Call {
            call: "xrtXclbinAllocRawData",
            reason: format!("xclbin of {} bytes is too large", bytes.len()),
        })?;
        // SAFETY: `bytes` is valid for `len` bytes during the call (XRT copies it).
        let h = call("xrtXclbinAllocRawData", || unsafe {
            xrt.xrtXclbinAllocRawData(bytes.as_ptr().cast(), len)
        })?;
        check_handle("xrtXclbinAllocRawData", h)?;
        Ok(XclbinHandle { xrt, h })
    }

    /// The UUID as XRT reads it.
    pub fn uuid(&self) -> Result<[u8; 16], XrtError> {
        let mut out = [0u8; 16];
        let (xrt, h, p) = (self.xrt, self.h, out.as_mut_ptr());
        // SAFETY: live handle; `out` has room for a uuid.
        let code = call("xrtXclbinGetUUID", || unsafe { xrt.xrtXclbinGetUUID(h, p) })?;
        check_code("xrtXclbinGetUUID", code)?;
        Ok(out)
    }

    /// The platform VBNV (XSA name) as XRT reads it.
    pub fn xsa_name(&self) -> Result<String, XrtError> {
        let mut buf = vec![0u8; 256];
        let mut len: c_int = 0;
        let (xrt, h, p, l) = (self.xrt, self.h, buf.as_mut_ptr(), &mut len as *mut c_int);
        // SAFETY: live handle; `buf` holds 256 bytes, as passed.
        let code = call("xrtXclbinGetXSAName", || unsafe {
            xrt.xrtXclbinGetXSAName(h, p.cast(), 256, l)
        })?;
        check_code("xrtXclbinGetXSAName", code)?;
        let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    /// Kernels and compute units as XRT counts them.
    pub fn counts(&self) -> Result<(usize, usize), XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle.
        let kernels = call("xrtXclbinGetNumKernels", || unsafe { xrt.xrtXclbinGetNumKernels(h) })?;
        // SAFETY: live handle.
        let cus = call("xrtXclbinGetNumKernelComputeUnits", || unsafe {
            xrt.xrtXclbinGetNumKernelComputeUnits(h)
        })?;
        Ok((kernels, cus))
    }
}

impl Drop for XclbinHandle {
    fn drop(&mut self) {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: the handle is live and freed once.
        if !matches!(call("xrtXclbinFreeHandle", || unsafe { xrt.xrtXclbinFreeHandle(h) }), Ok(0)) {
            tracing::warn!("XRT xrtXclbinFreeHandle failed");
        }
    }
}

/// An open kernel (`xrtPLKernelOpen`).
pub(crate) struct Kernel {
    xrt: &'static Xrt,
    h: xrtKernelHandle,
}

// SAFETY: see `Device`.
unsafe impl Send for Kernel {}

impl Kernel {
    /// The memory group a buffer argument must be allocated in.
    pub fn group_of(&self, arg: u32) -> Result<u32, XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle.
        let g =
            call("xrtKernelArgGroupId", || unsafe { xrt.xrtKernelArgGroupId(h, arg as c_int) })?;
        if g >= 0 {
            succeeded("xrtKernelArgGroupId");
        }
        u32::try_from(g).map_err(|_| XrtError::Call {
            call: "xrtKernelArgGroupId",
            reason: format!("argument {arg} has no memory group ({g}); is it a buffer?"),
        })
    }

    /// A run handle with its arguments set once: buffers, then scalars.
    pub fn run(&self, buffers: &[(u32, &Bo)], scalars: &[(u32, u32)]) -> Result<Run, XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle.
        let r = call("xrtRunOpen", || unsafe { xrt.xrtRunOpen(h) })?;
        check_handle("xrtRunOpen", r)?;
        let run = Run { xrt, h: r };
        for &(arg, bo) in buffers {
            let b = bo.h;
            // SAFETY: live run and buffer handles.
            let code = call("xrtRunSetArg", || unsafe {
                xrt_sys::run_set_arg_bo(xrt, r, arg as c_int, b)
            })?;
            check_code("xrtRunSetArg", code)?;
        }
        for &(arg, value) in scalars {
            // SAFETY: live run handle.
            let code = call("xrtRunSetArg", || unsafe {
                xrt_sys::run_set_arg_u32(xrt, r, arg as c_int, value)
            })?;
            check_code("xrtRunSetArg", code)?;
        }
        Ok(run)
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: the handle is live and closed once.
        if !matches!(call("xrtKernelClose", || unsafe { xrt.xrtKernelClose(h) }), Ok(0)) {
            tracing::warn!("XRT xrtKernelClose failed");
        }
    }
}

/// A device buffer (`xrtBOAlloc`).
pub(crate) struct Bo {
    xrt: &'static Xrt,
    h: xrtBufferHandle,
    pub size: usize,
}

// SAFETY: see `Device`.
unsafe impl Send for Bo {}

impl Bo {
    /// Copies `data` into the buffer and syncs it to the device.
    pub fn write_to_device(&mut self, data: &[u8]) -> Result<(), XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        let n = data.len().min(self.size);
        // SAFETY: live handle; `data` holds at least `n` bytes; the buffer holds `size >= n`.
        let code = call("xrtBOWrite", || unsafe { xrt.xrtBOWrite(h, data.as_ptr().cast(), n, 0) })?;
        check_code("xrtBOWrite", code)?;
        self.sync(TO_DEVICE, n, "xrtBOSync(to device)")
    }

    /// Syncs `out.len()` bytes from the device and copies them out.
    pub fn read_from_device(&mut self, out: &mut [u8]) -> Result<(), XrtError> {
        let n = out.len().min(self.size);
        self.sync(FROM_DEVICE, n, "xrtBOSync(from device)")?;
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle; `out` has room for `n` bytes.
        let code =
            call("xrtBORead", || unsafe { xrt.xrtBORead(h, out.as_mut_ptr().cast(), n, 0) })?;
        check_code("xrtBORead", code)
    }

    fn sync(&self, dir: xclBOSyncDirection, n: usize, name: &'static str) -> Result<(), XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle; `n` is within the buffer.
        let code = call(name, || unsafe { xrt.xrtBOSync(h, dir, n, 0) })?;
        check_code(name, code)
    }
}

impl Drop for Bo {
    fn drop(&mut self) {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: the handle is live and freed once.
        if !matches!(call("xrtBOFree", || unsafe { xrt.xrtBOFree(h) }), Ok(0)) {
            tracing::warn!("XRT xrtBOFree failed");
        }
    }
}

/// A kernel run with its arguments bound (`xrtRunOpen`).
pub(crate) struct Run {
    xrt: &'static Xrt,
    h: xrtRunHandle,
}

// SAFETY: see `Device`.
unsafe impl Send for Run {}

impl Run {
    /// Starts the run and waits for it, at most `timeout`.
    pub fn start_and_wait(&mut self, timeout: Duration) -> Result<(), XrtError> {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: live handle with every argument set.
        let code = call("xrtRunStart", || unsafe { xrt.xrtRunStart(h) })?;
        check_code("xrtRunStart", code)?;
        let millis = timeout.as_millis().clamp(1, u128::from(u32::MAX)) as u32;
        // SAFETY: live, started run.
        let state = call("xrtRunWaitFor", || unsafe { xrt.xrtRunWaitFor(h, millis) })?;
        if state == COMPLETED {
            succeeded("xrtRunWaitFor");
            return Ok(());
        }
        // SAFETY: live run.
        let now = call("xrtRunState", || unsafe { xrt.xrtRunState(h) })?;
        if now == COMPLETED {
            return Ok(());
        }
        if now == xrt_sys::ert_cmd_state_ERT_CMD_STATE_RUNNING
            || now == xrt_sys::ert_cmd_state_ERT_CMD_STATE_QUEUED
            || now == xrt_sys::ert_cmd_state_ERT_CMD_STATE_NEW
            || now == xrt_sys::ert_cmd_state_ERT_CMD_STATE_TIMEOUT
        {
            return Err(XrtError::Timeout { call: "xrtRunWaitFor", millis: u64::from(millis) });
        }
        Err(XrtError::Call { call: "xrtRunWaitFor", reason: format!("run ended in state {now}") })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let (xrt, h) = (self.xrt, self.h);
        // SAFETY: the handle is live and closed once.
        if !matches!(call("xrtRunClose", || unsafe { xrt.xrtRunClose(h) }), Ok(0)) {
            tracing::warn!("XRT xrtRunClose failed");
        }
    }
}
