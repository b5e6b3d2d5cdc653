//! The TLS `cname`: what it may be (a host name or an IP literal) and whether the served leaf
//! covers it, matched the way TLS clients match (RFC 6125 §6.4 via rustls-webpki: a wildcard
//! only as the whole left-most label, covering exactly one label; IP literals against IP SANs).

use std::net::IpAddr;

use rustls_pki_types::{CertificateDer, ServerName};

/// Parses `cname` as a client would put it in a URL: a DNS host name or an IP literal
/// (`10.0.0.5`, `fd00::5`). Errors say why it cannot be one (e.g. a literal `*.edge.test`).
pub fn parse(cname: &str) -> Result<ServerName<'static>, String> {
    let trimmed = cname.trim();
    if trimmed.is_empty() {
        return Err("must name the host clients connect to".into());
    }
    if trimmed.contains('*') {
        return Err(format!(
            "\"{trimmed}\" is not a host name: a wildcard belongs in the certificate, the cname is \
             the one name this box answers to (e.g. box1.edge.test for a *.edge.test certificate)"
        ));
    }
    if let Some(inner) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => Ok(ServerName::IpAddress(IpAddr::V6(v6).into())),
            Err(_) => Err(format!("\"{trimmed}\" is not an IPv6 address in brackets")),
        };
    }
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(trimmed.to_string()).map_err(|_| {
        format!("\"{trimmed}\" is not a host name or an IP address (letters, digits, '-' and '.')")
    })
}

/// The host part of a URL for `cname`: IPv6 literals in brackets (RFC 3986 §3.2.2).
pub fn url_host(cname: &str) -> String {
    let trimmed = cname.trim();
    let bare = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(trimmed);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => cname.trim().to_string(),
    }
}

/// Whether `leaf` is valid for `name`, as a TLS client checking the server's identity decides.
pub fn covers(leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    match webpki::EndEntityCert::try_from(leaf) {
        Ok(cert) => cert.verify_is_valid_for_subject_name(name).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(sans: &[&str]) -> CertificateDer<'static> {
        let params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn ok(cert: &CertificateDer<'_>, cname: &str) -> bool {
        covers(cert, &parse(cname).unwrap())
    }

    #[test]
    fn a_wildcard_covers_exactly_one_left_most_label() {
        let cert = leaf(&["*.edge.test"]);
        assert!(ok(&cert, "box1.edge.test"));
        assert!(ok(&cert, "BOX2.Edge.Test"));
        assert!(!ok(&cert, "a.b.edge.test"));
        assert!(!ok(&cert, "edge.test"));
        assert!(!ok(&cert, "box1.other.test"));
        // A wildcard over a single label (`*.test`) covers nothing.
        assert!(!ok(&leaf(&["*.test"]), "box.test"));
    }

    #[test]
    fn a_literal_wildcard_cname_is_refused() {
        let err = parse("*.edge.test").unwrap_err();
        assert!(err.contains("not a host name"), "{err}");
        assert!(parse("").is_err());
        assert!(parse("bad name").is_err());
        assert!(parse("[10.0.0.5]").is_err());
        assert!(parse("[fd00::5").is_err());
    }

    #[test]
    fn ip_literals_match_ip_sans_only() {
        let cert = leaf(&["10.0.0.5", "fd00::5", "box.test"]);
        assert!(ok(&cert, "10.0.0.5"));
        assert!(ok(&cert, "fd00::5"));
        assert!(ok(&cert, "[fd00::5]"));
        assert!(!ok(&cert, "10.0.0.6"));
        let dns_only = leaf(&["box.test"]);
        assert!(!ok(&dns_only, "10.0.0.5"));
    }

    #[test]
    fn url_hosts_bracket_ipv6() {
        assert_eq!(url_host("fd00::5"), "[fd00::5]");
        assert_eq!(url_host("[fd00::5]"), "[fd00::5]");
        assert_eq!(url_host("10.0.0.5"), "10.0.0.5");
        assert_eq!(url_host("box1.edge.test"), "box1.edge.test");
    }
}
