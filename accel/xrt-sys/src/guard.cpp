// The C++ side of xrt-sys: XRT's C API is a thin layer over C++, and an exception escaping it
// would unwind into Rust and abort the daemon. Every XRT call edgeserve makes runs inside
// edgeserve_xrt_guard, which turns any exception into an error code and its message.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>

namespace {
void copy_message(const char* what, char* msg, size_t len) {
    if (msg == nullptr || len == 0) return;
    std::strncpy(msg, what != nullptr ? what : "", len - 1);
    msg[len - 1] = '\0';
}
}  // namespace

extern "C" {

// Runs body(ctx); returns 0, or 1 with the exception's message in msg when one was thrown.
int edgeserve_xrt_guard(void (*body)(void*), void* ctx, char* msg, size_t len) {
    try {
        body(ctx);
        return 0;
    } catch (const std::exception& e) {
        copy_message(e.what(), msg, len);
    } catch (...) {
        copy_message("unknown C++ exception", msg, len);
    }
    return 1;
}

// xrtRunSetArg is variadic; these call it with the argument types kernels take, so Rust never
// makes a variadic call.
typedef int (*run_set_arg_fn)(void* run, int index, ...);

int edgeserve_xrt_run_set_arg_bo(void* f, void* run, int index, void* bo) {
    return reinterpret_cast<run_set_arg_fn>(f)(run, index, bo);
}

int edgeserve_xrt_run_set_arg_u32(void* f, void* run, int index, uint32_t value) {
    return reinterpret_cast<run_set_arg_fn>(f)(run, index, value);
}

}  // extern "C"

// For xrt-sys's own tests: throws like XRT's C++ core would.
extern "C" void edgeserve_xrt_guard_selftest_throw(const char* what) {
    struct failure : std::exception {
        const char* w;
        explicit failure(const char* s) : w(s) {}
        const char* what() const noexcept override { return w; }
    };
    throw failure(what);
}
