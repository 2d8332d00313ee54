//! The root filesystem's creation time, read from its superblock: which device is mounted at / (from
//! /proc/self/mountinfo) and the ext2/3/4 `s_mkfs_time` field.

use std::io::{Read, Seek, SeekFrom};

use crate::error::HostScanError;

const EXT_SUPERBLOCK_OFFSET: u64 = 1024;
const EXT_MAGIC_OFFSET: usize = 0x38;
const EXT_MAGIC: u16 = 0xEF53;
const EXT_MKFS_TIME_OFFSET: usize = 0x108;
/// `s_mkfs_time_hi` (ext4.h: after s_checksum_seed at 0x270, s_wtime_hi 0x274, s_mtime_hi 0x275).
const EXT_MKFS_TIME_HI_OFFSET: usize = 0x276;

/// Creation time of an ext2/3/4 filesystem in seconds since the epoch, from the superblock of the device or
/// image `r`. `Ok(None)` when the superblock records no creation time (0). Not an ext filesystem, or too
/// short to hold a superblock: an error.
pub fn ext4_created<R: Read + Seek>(r: &mut R) -> Result<Option<u64>, HostScanError> {
    let src = "superblock";
    r.seek(SeekFrom::Start(EXT_SUPERBLOCK_OFFSET))
        .map_err(|e| HostScanError::parse(src, 0, format!("seek to byte 1024: {e}")))?;
    let mut sb = [0u8; 1024];
    let mut got = 0;
    while got < sb.len() {
        match r.read(&mut sb[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HostScanError::parse(src, 0, format!("read: {e}"))),
        }
    }
    if got < sb.len() {
        return Err(HostScanError::parse(
            src,
            0,
            format!("only {} of 1024 superblock bytes present", got),
        ));
    }
    let magic = u16::from_le_bytes([sb[EXT_MAGIC_OFFSET], sb[EXT_MAGIC_OFFSET + 1]]);
    if magic != EXT_MAGIC {
        return Err(HostScanError::parse(
            src,
            0,
            format!("not an ext2/3/4 superblock (magic {magic:#06x}, expected 0xef53)"),
        ));
    }
    let lo = u32::from_le_bytes(
        sb[EXT_MKFS_TIME_OFFSET..EXT_MKFS_TIME_OFFSET + 4]
            .try_into()
            .expect("4 bytes"),
    );
    let hi = sb[EXT_MKFS_TIME_HI_OFFSET];
    let secs = (u64::from(hi) << 32) | u64::from(lo);
    Ok((secs != 0).then_some(secs))
}

/// The filesystem mounted at / as /proc/self/mountinfo describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootMount {
    pub major: u32,
    pub minor: u32,
    pub fstype: String,
    pub source: String,
}

/// The last (topmost) mount of "/" in a mountinfo text. Malformed lines are skipped.
pub fn root_mount(mountinfo: &str) -> Option<RootMount> {
    mountinfo
        .lines()
        .rev()
        .filter_map(parse_mountinfo_line)
        .find(|(mp, _)| mp == "/")
        .map(|(_, m)| m)
}

/// `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`.
fn parse_mountinfo_line(line: &str) -> Option<(String, RootMount)> {
    let (left, right) = line.split_once(" - ")?;
    let l: Vec<&str> = left.split(' ').collect();
    let (major, minor) = l.get(2)?.split_once(':')?;
    let mountpoint = l.get(4)?.to_string();
    let mut r = right.split(' ');
    Some((
        mountpoint,
        RootMount {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
            fstype: r.next()?.to_string(),
            source: r.next()?.to_string(),
        },
    ))
}

/// Device files that may be the root mount's block device, in the order to try them.
pub fn device_candidates(m: &RootMount) -> Vec<std::path::PathBuf> {
    let mut out = vec![std::path::PathBuf::from(format!("/dev/block/{}:{}", m.major, m.minor))];
    if m.source.starts_with("/dev/") {
        out.push(m.source.clone().into());
    }
    if let Ok(uevent) = std::fs::read_to_string(format!("/sys/dev/block/{}:{}/uevent", m.major, m.minor)) {
        if let Some(name) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) {
            out.push(std::path::Path::new("/dev").join(name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn image(magic: u16, lo: u32, hi: u8) -> Vec<u8> {
        let mut img = vec![0u8; 4096];
        let sb = &mut img[1024..2048];
        sb[EXT_MAGIC_OFFSET..EXT_MAGIC_OFFSET + 2].copy_from_slice(&magic.to_le_bytes());
        sb[EXT_MKFS_TIME_OFFSET..EXT_MKFS_TIME_OFFSET + 4].copy_from_slice(&lo.to_le_bytes());
        sb[EXT_MKFS_TIME_HI_OFFSET] = hi;
        img
    }

    #[test]
    fn synthetic_superblocks() {
        assert_eq!(
            ext4_created(&mut Cursor::new(image(0xEF53, 1_600_000_000, 0))).unwrap(),
            Some(1_600_000_000)
        );
        assert_eq!(ext4_created(&mut Cursor::new(image(0xEF53, 0, 0))).unwrap(), None);
        assert_eq!(
            ext4_created(&mut Cursor::new(image(0xEF53, 5, 1))).unwrap(),
            Some((1 << 32) + 5)
        );
        let err = ext4_created(&mut Cursor::new(image(0x1234, 5, 0)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("magic 0x1234"), "{err}");
        let err = ext4_created(&mut Cursor::new(vec![0u8; 1500])).unwrap_err().to_string();
        assert!(err.contains("only 476 of 1024"), "{err}");
    }

    #[test]
    fn root_mount_is_the_topmost() {
        let mi = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
90 27 0:50 / / rw shared:1 - overlay overlay rw,lowerdir=/a
bad line
";
        let m = root_mount(mi).unwrap();
        assert_eq!((m.major, m.minor, m.fstype.as_str()), (0, 50, "overlay"));
        let m = root_mount(&mi.lines().take(2).collect::<Vec<_>>().join("\n")).unwrap();
        assert_eq!(
            (m.major, m.minor, m.fstype.as_str(), m.source.as_str()),
            (254, 0, "ext4", "/dev/vda")
        );
        assert_eq!(root_mount("22 27 0:21 / /proc rw - proc proc rw"), None);
    }

    proptest! {
        #[test]
        fn garbage_superblocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), magic in any::<bool>()) {
            let mut bytes = bytes;
            if magic && bytes.len() > 1024 + 0x3A {
                bytes[1024 + 0x38] = 0x53;
                bytes[1024 + 0x39] = 0xEF;
            }
            let _ = ext4_created(&mut Cursor::new(bytes));
        }

        #[test]
        fn mountinfo_never_panics(text in "(([0-9: /a-z-]{0,30})\n){0,6}") {
            let _ = root_mount(&text);
        }
    }
}
