//! Giving memory back after bursts: glibc keeps freed heap pages for reuse, so after a burst
//! of connections (a scan, a slowloris attack, a load test) the daemon's RSS would stay at its
//! peak for good. A background task asks the allocator to return free pages every
//! [`TRIM_INTERVAL`] (`malloc_trim(3)`), so RSS follows the load back down (issue 19).

use std::time::Duration;

/// How often free heap pages are returned to the kernel.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// Returns free heap pages to the kernel now (a no-op on C libraries without `malloc_trim`).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) takes no pointers and only walks glibc's own arenas under their
    // locks; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs [`trim`] every [`TRIM_INTERVAL`] on the blocking pool, for the daemon's lifetime.
pub fn spawn_trimmer() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    });
}
