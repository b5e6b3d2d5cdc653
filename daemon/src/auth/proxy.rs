//! The client behind a trusted load balancer: when a request arrives from an address in
//! `network.trusted_proxies`, its client is the right-most `X-Forwarded-For` entry that is not
//! itself a trusted proxy (the de-facto convention; RFC 7239 §5.2 for the `Forwarded` form,
//! which balancers such as HAProxy `option forwardfor` write as `X-Forwarded-For`). Network
//! access, failure limits and the traffic log then see the client, not the balancer, so one
//! client's bad key cannot get everyone behind the balancer rate limited. From any other peer
//! the header is ignored: clients cannot choose the address they are judged by.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// Most `X-Forwarded-For` entries looked at (a chain of balancers is short).
const MAX_HOPS: usize = 16;

/// The address a request is judged by: `peer`, or, when `peer` is a trusted proxy, the client
/// it names. An unparsable entry stops the walk at the last trusted hop (judged as that hop).
pub fn client_addr(trusted: &[ipnet::IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For line, in order, as one comma-separated list (RFC 9110 §5.3).
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(ip) = parse(entry) else { return client };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// An entry: `IP`, `IPv4:port` or `[IPv6]:port`.
fn parse(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    entry.strip_prefix('[')?.split(']').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", l.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_peers_name_the_client() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let lb = ip("10.0.0.5");
        let xff = headers(&["203.0.113.9"]);
        assert_eq!(client_addr(&trusted, lb, &xff), ip("203.0.113.9"));
        // From anyone else the header is ignored.
        assert_eq!(client_addr(&trusted, ip("198.51.100.1"), &xff), ip("198.51.100.1"));
        assert_eq!(client_addr(&[], lb, &xff), lb);
        // A forged left-most entry does not win: the balancer's own (right-most) one does.
        let forged = headers(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(client_addr(&trusted, lb, &forged), ip("203.0.113.9"));
        let two_lines = headers(&["1.2.3.4", "203.0.113.9"]);
        assert_eq!(client_addr(&trusted, lb, &two_lines), ip("203.0.113.9"));
        // Chains of trusted balancers are walked through.
        let chain = headers(&["203.0.113.9, 10.0.0.7"]);
        assert_eq!(client_addr(&trusted, lb, &chain), ip("203.0.113.9"));
        // Ports and brackets are accepted; garbage stops at the last trusted hop.
        assert_eq!(client_addr(&trusted, lb, &headers(&["[2001:db8::1]:443"])), ip("2001:db8::1"));
        assert_eq!(client_addr(&trusted, lb, &headers(&["203.0.113.9:5000"])), ip("203.0.113.9"));
        assert_eq!(client_addr(&trusted, lb, &headers(&["nonsense"])), lb);
        assert_eq!(client_addr(&trusted, lb, &HeaderMap::new()), lb);
    }
}
