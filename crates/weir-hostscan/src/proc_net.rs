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
    let (addr, port) = f[1].split_once(':').ok_or_else(|| err("local address without `:port`"))?;
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
