//! Parses the destination of block_destination / unblock_destination:
//! "IP", "IP:port", "[IPv6]:port" (IPv4 or IPv6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address, and a port or every port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl Destination {
    /// The address as IPv6 (IPv4 mapped to ::ffff:a.b.c.d), the way the
    /// kernel hooks see both families.
    pub fn ip_v6(&self) -> Ipv6Addr {
        match self.ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        }
    }

    /// True when a connection to `addr` falls under this destination.
    pub fn covers(&self, addr: &SocketAddr) -> bool {
        same_ip(self.ip, addr.ip()) && self.port.is_none_or(|p| p == addr.port() || addr.port() == 0)
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6(a) == v6(b)
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip, self.port) {
            (ip, None) => write!(f, "{ip}"),
            (IpAddr::V4(ip), Some(p)) => write!(f, "{ip}:{p}"),
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}]:{p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target: empty destination (want IP, IP:port or [IPv6]:port)")]
    Empty,
    #[error("target {0:?}: not an IP, IP:port or [IPv6]:port")]
    Malformed(String),
    #[error("target {0:?}: port 0 (leave the port out to block every port)")]
    PortZero(String),
    #[error("target {0:?}: the unspecified address cannot be blocked")]
    Unspecified(String),
}

/// Parses a block target.
pub fn parse_destination(text: &str) -> Result<Destination, TargetError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(TargetError::Empty);
    }
    let dest = if let Ok(ip) = t.parse::<IpAddr>() {
        Destination { ip, port: None }
    } else if let Ok(sa) = t.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(TargetError::PortZero(t.to_string()));
        }
        Destination {
            ip: sa.ip(),
            port: Some(sa.port()),
        }
    } else if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Destination {
            ip: IpAddr::V6(inner.parse().map_err(|_| TargetError::Malformed(t.to_string()))?),
            port: None,
        }
    } else {
        return Err(TargetError::Malformed(t.to_string()));
    };
    if dest.ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED) || dest.ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        return Err(TargetError::Unspecified(t.to_string()));
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form() {
        let d = parse_destination("10.1.2.3").unwrap();
        assert_eq!((d.ip.to_string(), d.port), ("10.1.2.3".into(), None));
        let d = parse_destination(" 10.1.2.3:443 ").unwrap();
        assert_eq!(d.port, Some(443));
        assert_eq!(d.to_string(), "10.1.2.3:443");
        let d = parse_destination("[2001:db8::1]:80").unwrap();
        assert_eq!(d.to_string(), "[2001:db8::1]:80");
        let d = parse_destination("2001:db8::1").unwrap();
        assert_eq!(d.port, None);
        assert_eq!(parse_destination("[2001:db8::1]").unwrap(), d);
        assert_eq!(d.ip_v6(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            parse_destination("1.2.3.4").unwrap().ip_v6(),
            "::ffff:1.2.3.4".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn refuses_bad_targets_by_name() {
        assert_eq!(parse_destination(""), Err(TargetError::Empty));
        assert_eq!(
            parse_destination("1.2.3.4:0"),
            Err(TargetError::PortZero("1.2.3.4:0".into()))
        );
        assert_eq!(
            parse_destination("0.0.0.0"),
            Err(TargetError::Unspecified("0.0.0.0".into()))
        );
        assert_eq!(parse_destination("::"), Err(TargetError::Unspecified("::".into())));
        let e = parse_destination("example.com:80").unwrap_err();
        assert!(e.to_string().contains("example.com:80"), "{e}");
        assert!(parse_destination("1.2.3.4:99999").is_err());
    }

    #[test]
    fn covers_matches_port_and_family() {
        let d = parse_destination("127.0.0.1:80").unwrap();
        assert!(d.covers(&"127.0.0.1:80".parse().unwrap()));
        assert!(!d.covers(&"127.0.0.1:81".parse().unwrap()));
        assert!(d.covers(&"[::ffff:127.0.0.1]:80".parse().unwrap()));
        let any = parse_destination("127.0.0.1").unwrap();
        assert!(any.covers(&"127.0.0.1:81".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(s in ".{0,64}") {
            match parse_destination(&s) {
                Ok(d) => prop_assert_eq!(parse_destination(&d.to_string()), Ok(d)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn every_socket_addr_parses(a in any::<[u8; 4]>(), p in 1u16..) {
            let text = format!("{}.{}.{}.{}:{p}", a[0], a[1], a[2], a[3]);
            let d = parse_destination(&text);
            if a == [0, 0, 0, 0] {
                prop_assert!(d.is_err());
            } else {
                prop_assert_eq!(d.unwrap().port, Some(p));
            }
        }
    }
}
