//! /proc/PID/net/{tcp,tcp6,udp,udp6}: sockets of one network namespace, and which of them accept traffic
//! from other hosts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::HostScanError;

/// Transport protocol of a socket table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The four tables, their file names and protocol.
pub const TABLES: [(&str, Proto); 4] = [
    ("tcp", Proto::Tcp),
    ("tcp6", Proto::Tcp),
    ("udp", Proto::Udp),
    ("udp6", Proto::Udp),
];

const TCP_LISTEN: u8 = 0x0A;
/// An unconnected UDP socket reports TCP_CLOSE (07); a connected one (01) only hears its peer.
const UDP_UNCONNECTED: u8 = 0x07;

/// One row of a socket table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEntry {
    pub address: IpAddr,
    pub port: u16,
    pub state: u8,
    pub inode: u64,
}

/// Decodes the kernel's hex address: 8 digits (IPv4) or 32 (IPv6), each 32-bit word printed in host order.
pub fn parse_hex_address(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Parses one data line (`sl local rem st tx:rx tr:when retr uid timeout inode ...`).
pub fn parse_line(line: &str, src: &str, lineno: usize) -> Result<SocketEntry, HostScanError> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let err = |r: &str| HostScanError::parse(src, lineno, r.to_string());
    if f.len() < 10 {
        return Err(err(&format!("expected at least 10 fields, found {}", f.len())));
    }
    let (addr, port) = f[1]
        .split_once(':')
        .ok_or_else(|| err("local address without `:port`"))?;
    let address = parse_hex_address(addr).ok_or_else(|| err(&format!("bad local address {addr:?}")))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| err(&format!("bad local port {port:?}")))?;
    let state = u8::from_str_radix(f[3], 16).map_err(|_| err(&format!("bad state {:?}", f[3])))?;
    let inode = f[9].parse().map_err(|_| err(&format!("bad inode {:?}", f[9])))?;
    Ok(SocketEntry {
        address,
        port,
        state,
        inode,
    })
}

/// Parses a whole table (first line is the header); bad lines are returned as errors, the rest kept.
pub fn parse_table(text: &str, src: &str) -> (Vec<SocketEntry>, Vec<HostScanError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line, src, i + 1) {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    (rows, errors)
}

/// 127.0.0.0/8, ::1, and IPv4-mapped loopback.
pub fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

/// A socket that accepts traffic from other hosts: a TCP listener or a bound, unconnected UDP socket, on a
/// non-loopback address (wildcards included; the collector decides what is public). Inode 0 (a socket
/// with no file, e.g. in TIME_WAIT) is never one.
pub fn is_exposed(entry: &SocketEntry, proto: Proto) -> bool {
    let accepting = match proto {
        Proto::Tcp => entry.state == TCP_LISTEN,
        Proto::Udp => entry.state == UDP_UNCONNECTED && entry.port != 0,
    };
    accepting && entry.inode != 0 && !is_loopback(&entry.address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0
   1: 0100CB0A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 100 0 0 10 0
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0 100 0 0 10 0
   3: 0100CB0A:1F90 0200CB0A:D431 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0 100 0 0 10 0
   4: garbage
";

    #[test]
    fn tcp_table_keeps_non_loopback_listeners_only() {
        let (rows, errors) = parse_table(TCP, "/proc/1/net/tcp");
        assert_eq!(rows.len(), 4);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().starts_with("/proc/1/net/tcp: line 6:"),
            "{}",
            errors[0]
        );
        let exposed: Vec<_> = rows.iter().filter(|r| is_exposed(r, Proto::Tcp)).collect();
        let addrs: Vec<String> = exposed.iter().map(|r| format!("{}:{}", r.address, r.port)).collect();
        assert_eq!(addrs, ["10.203.0.1:8080", "0.0.0.0:22"]);
    }

    #[test]
    fn ipv6_addresses_decode_word_by_word() {
        // ::1 and ::ffff:127.0.0.1 as the kernel prints them on a little-endian host.
        let v6_loop = parse_hex_address("00000000000000000000000001000000").unwrap();
        assert_eq!(v6_loop, "::1".parse::<IpAddr>().unwrap());
        assert!(is_loopback(&v6_loop));
        let mapped = parse_hex_address("0000000000000000FFFF00000100007F").unwrap();
        assert_eq!(mapped, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(is_loopback(&mapped));
        let global = parse_hex_address("000000FD000000000000000002000000").unwrap();
        assert_eq!(global, "fd00::2".parse::<IpAddr>().unwrap());
        assert!(!is_loopback(&global));
    }

    #[test]
    fn udp_only_unconnected_bound_sockets_count() {
        let unbound = SocketEntry {
            address: "0.0.0.0".parse().unwrap(),
            port: 0,
            state: 7,
            inode: 5,
        };
        assert!(!is_exposed(&unbound, Proto::Udp));
        let bound = SocketEntry {
            port: 53,
            ..unbound.clone()
        };
        assert!(is_exposed(&bound, Proto::Udp));
        let connected = SocketEntry {
            state: 1,
            ..bound.clone()
        };
        assert!(!is_exposed(&connected, Proto::Udp));
    }

    proptest! {
        #[test]
        fn socket_lines_never_panic(line in ".{0,200}") {
            let _ = parse_line(&line, "/proc/net/tcp", 2);
        }

        #[test]
        fn socket_lines_from_fields_never_panic(fields in proptest::collection::vec("[0-9A-Fa-f:]{0,40}", 0..14)) {
            let _ = parse_line(&fields.join(" "), "/proc/net/tcp6", 2);
        }

        #[test]
        fn v4_roundtrip(a in any::<[u8; 4]>(), port in any::<u16>(), inode in 1u64..u64::MAX) {
            let word = u32::from_ne_bytes(a);
            let line = format!("0: {word:08X}:{port:04X} 00000000:0000 0A 0:0 0:0 0 0 0 {inode}");
            let e = parse_line(&line, "t", 1).unwrap();
            prop_assert_eq!(e.address, IpAddr::V4(Ipv4Addr::from(a)));
            prop_assert_eq!(e.port, port);
            prop_assert_eq!(e.inode, inode);
        }
    }
}
