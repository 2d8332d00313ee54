//! The host's interface addresses (`getifaddrs`, this network namespace),
//! as "<ifname> <ip>/<prefix>", so the collector can tell whether a listener
//! on any address (0.0.0.0, ::) is reachable from the Internet.

use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Every IPv4 and IPv6 address of every interface, sorted; empty when the
/// list cannot be read (the reason goes to `errors`).
pub fn addresses(errors: &mut Vec<String>) -> Vec<String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        errors.push(format!("interfaces: getifaddrs: {}", std::io::Error::last_os_error()));
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        // SAFETY: the family tells which sockaddr type the pointers hold.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        let entry = match family {
            libc::AF_INET => unsafe {
                let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                let prefix = if ifa.ifa_netmask.is_null() {
                    32
                } else {
                    (*(ifa.ifa_netmask as *const libc::sockaddr_in))
                        .sin_addr
                        .s_addr
                        .count_ones()
                };
                format!("{name} {ip}/{prefix}")
            },
            libc::AF_INET6 => unsafe {
                let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let prefix = if ifa.ifa_netmask.is_null() {
                    128
                } else {
                    (*(ifa.ifa_netmask as *const libc::sockaddr_in6))
                        .sin6_addr
                        .s6_addr
                        .iter()
                        .map(|b| b.count_ones())
                        .sum()
                };
                format!("{name} {ip}/{prefix}")
            },
            _ => continue,
        };
        out.push(entry);
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed_with_its_prefix() {
        let mut errors = Vec::new();
        let all = super::addresses(&mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(all.iter().any(|a| a.ends_with(" 127.0.0.1/8")), "{all:?}");
    }
}
