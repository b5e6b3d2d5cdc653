//! Living under systemd: readiness and status notifications, the watchdog, and listening
//! sockets passed by socket activation. Without systemd every call here is a no-op.

mod activation;
mod notify;

pub use activation::{activated_listeners, ActivatedListeners};
pub use notify::{notify_ready, notify_reloading, notify_status, notify_stopping, spawn_watchdog};
