//! Finds the cgroup v2 hierarchy the network hooks attach to (mounting it
//! when this host has none mounted).

use std::path::{Path, PathBuf};

use crate::RespondError;

/// Where cgroup2 is mounted when no mount exists.
const FALLBACK_MOUNT: &str = "/run/weir/cgroup2";

/// Mount point of the cgroup v2 hierarchy from mountinfo text.
pub fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // "... mount_point options - fstype source super_options"
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount_point = left.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_octal(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The root of the cgroup v2 hierarchy, mounting it at /run/weir/cgroup2 if
/// it is not mounted anywhere.
pub fn cgroup2_root() -> Result<PathBuf, RespondError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| RespondError::Io("reading /proc/self/mountinfo".into(), e))?;
    if let Some(p) = cgroup2_mount_in(&info) {
        return Ok(p);
    }
    let target = Path::new(FALLBACK_MOUNT);
    std::fs::create_dir_all(target).map_err(|e| RespondError::Io(format!("creating {FALLBACK_MOUNT}"), e))?;
    let (src, dir, fstype) = (c"cgroup2", c"/run/weir/cgroup2", c"cgroup2");
    // SAFETY: all pointers are NUL-terminated constants; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), dir.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        return Err(RespondError::Io(
            format!("mounting cgroup2 on {FALLBACK_MOUNT}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(target.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_the_cgroup2_line() {
        let info = "25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount_in(info), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let spaced = "35 25 0:30 / /mnt/a\\040b rw shared:1 - cgroup2 none rw\n";
        assert_eq!(cgroup2_mount_in(spaced), Some(PathBuf::from("/mnt/a b")));
        assert_eq!(cgroup2_mount_in("25 30 0:22 / /sys rw - sysfs sysfs rw\n"), None);
    }

    #[test]
    fn this_host_has_one() {
        let root = cgroup2_root().unwrap();
        assert!(root.join("cgroup.procs").exists(), "{}", root.display());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = cgroup2_mount_in(&s);
        }
    }
}
