//! Rate limiting of failed authentications per peer address (`limits.auth_failures_per_minute`):
//! past the limit a peer gets 429 with `Retry-After` until its minute is over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Peers tracked at most; expired entries are dropped first, so memory stays bounded.
const MAX_PEERS: usize = 65_536;

/// Counts failed authentications per peer in fixed one-minute windows.
pub struct AuthFailureLimiter {
    per_minute: u64,
    peers: Mutex<HashMap<IpAddr, (Instant, u64)>>,
}

impl AuthFailureLimiter {
    /// A limiter allowing `per_minute` failures per peer.
    pub fn new(per_minute: u64) -> AuthFailureLimiter {
        AuthFailureLimiter { per_minute, peers: Mutex::new(HashMap::new()) }
    }

    /// How long `peer` must wait, if it is over the limit now.
    pub fn blocked_for(&self, peer: IpAddr) -> Option<Duration> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = peers.get(&peer)?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*count >= self.per_minute).then_some(left)
    }

    /// Records one failed authentication from `peer`.
    pub fn record_failure(&self, peer: IpAddr) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if peers.len() >= MAX_PEERS {
                return;
            }
        }
        let entry = peers.entry(peer).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_peer() {
        let limiter = AuthFailureLimiter::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(limiter.blocked_for(a), None);
        limiter.record_failure(a);
        assert_eq!(limiter.blocked_for(a), None);
        limiter.record_failure(a);
        let wait = limiter.blocked_for(a).expect("blocked after 2 failures");
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert_eq!(limiter.blocked_for(b), None, "other peers are not affected");
    }
}
