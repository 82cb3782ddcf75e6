//! Which addresses the server may fetch a metadata document from: public unicast ones only
//! (anyone can send a `client_id`, so it must not become a way to reach the server's own
//! network), and loopback when allowed for local tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be fetched from, if it may not.
pub fn refusal(ip: IpAddr, allow_loopback: bool) -> Option<String> {
    if ip.is_loopback() || ip.to_canonical().is_loopback() {
        return (!allow_loopback).then(|| {
            format!(
                "{ip} is a loopback address; this server fetches metadata documents only from \
                 public addresses (CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS=1 allows loopback, \
                 for local tests)"
            )
        });
    }
    let private = match ip {
        IpAddr::V4(v4) => v4_is_special(v4),
        IpAddr::V6(v6) => v6_is_special(v6),
    };
    private.then(|| {
        format!(
            "{ip} is a private, link-local or reserved address; this server fetches metadata \
             documents only from public addresses"
        )
    })
}

fn v4_is_special(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240
}

fn v6_is_special(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_is_special(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is what is reached.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_is_special(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return v4_is_special(embedded_v4(s[1], s[2]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // The rest of ::/96 (IPv4-compatible, deprecated).
        || s[..6] == [0; 6]
        // Unique local, fc00::/7.
        || (s[0] & 0xfe00) == 0xfc00
        // Link-local fe80::/10 and the old site-local fec0::/10.
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // Discard-only, 100::/64.
        || s[..4] == [0x100, 0, 0, 0]
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn refused(ip: &str, allow_loopback: bool) -> bool {
        refusal(ip.parse().unwrap(), allow_loopback).is_some()
    }

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(public, false), "{public}");
        }
        for private in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "::10.0.0.1",
        ] {
            assert!(refused(private, true), "{private}");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        for lo in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(refused(lo, false), "{lo}");
            assert!(!refused(lo, true), "{lo}");
        }
        let why = refusal("127.0.0.1".parse().unwrap(), false).unwrap();
        assert!(
            why.contains("CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS"),
            "{why}"
        );
    }
}
