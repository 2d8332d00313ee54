//! Reads one named section out of an ELF64 little-endian file without loading the file: only the header,
//! the section header table, the section-name table and the wanted section are read, each bounded.

use std::io::{Read, Seek, SeekFrom};

use crate::error::HostScanError;

const SHDR_SIZE: usize = 64;
/// Section header tables and name tables larger than this are refused as implausible.
const MAX_TABLE_BYTES: u64 = 4 << 20;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: u64, src: &str, what: &str) -> Result<Vec<u8>, HostScanError> {
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| HostScanError::parse(src, 0, format!("seek to {what} at {offset}: {e}")))?;
    let mut buf = Vec::new();
    r.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| HostScanError::parse(src, 0, format!("read {what}: {e}")))?;
    if (buf.len() as u64) < len {
        return Err(HostScanError::parse(
            src,
            0,
            format!("{what} runs past the end of the file"),
        ));
    }
    Ok(buf)
}

/// Whether the bytes start like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// The contents of section `name`, `Ok(None)` when the file is not ELF64 LE or has no such section.
/// A section larger than `max_bytes` is an error naming the file.
pub fn read_section<R: Read + Seek>(
    r: &mut R,
    name: &str,
    max_bytes: u64,
    src: &str,
) -> Result<Option<Vec<u8>>, HostScanError> {
    let mut header = [0u8; 64];
    r.seek(SeekFrom::Start(0))
        .map_err(|e| HostScanError::parse(src, 0, format!("seek: {e}")))?;
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(HostScanError::parse(src, 0, format!("read ELF header: {e}"))),
        }
    }
    if got < header.len() || !is_elf(&header) || header[4] != 2 || header[5] != 1 {
        return Ok(None);
    }
    let bad = |what: &str| HostScanError::parse(src, 0, format!("bad ELF header: {what}"));
    let shoff = u64_at(&header, 0x28).ok_or_else(|| bad("e_shoff"))?;
    let shentsize = u16_at(&header, 0x3A).ok_or_else(|| bad("e_shentsize"))? as usize;
    let shnum = u16_at(&header, 0x3C).ok_or_else(|| bad("e_shnum"))? as usize;
    let shstrndx = u16_at(&header, 0x3E).ok_or_else(|| bad("e_shstrndx"))? as usize;
    if shnum == 0 || shoff == 0 {
        return Ok(None);
    }
    if shentsize < SHDR_SIZE {
        return Err(bad(&format!("section header size {shentsize} < {SHDR_SIZE}")));
    }
    if shstrndx >= shnum {
        return Err(bad(&format!("section name table index {shstrndx} >= {shnum} sections")));
    }
    let table_len = (shentsize * shnum) as u64;
    if table_len > MAX_TABLE_BYTES {
        return Err(bad("section header table too large"));
    }
    let table = read_at(r, shoff, table_len, src, "section header table")?;
    let shdr = |i: usize| -> Option<(u32, u64, u64)> {
        let b = table.get(i * shentsize..i * shentsize + SHDR_SIZE)?;
        Some((u32_at(b, 0)?, u64_at(b, 0x18)?, u64_at(b, 0x20)?))
    };
    let (_, str_off, str_size) = shdr(shstrndx).ok_or_else(|| bad("section name table header"))?;
    if str_size > MAX_TABLE_BYTES {
        return Err(bad("section name table too large"));
    }
    let names = read_at(r, str_off, str_size, src, "section name table")?;
    for i in 0..shnum {
        let Some((name_off, off, size)) = shdr(i) else { break };
        let Some(rest) = names.get(name_off as usize..) else {
            continue;
        };
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        if &rest[..end] != name.as_bytes() {
            continue;
        }
        if size > max_bytes {
            return Err(HostScanError::parse(
                src,
                0,
                format!("section {name} is {size} bytes, over the {max_bytes}-byte limit"),
            ));
        }
        return read_at(r, off, size, src, name).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    #[test]
    fn reads_a_section_of_a_real_binary() {
        // The test binary itself is ELF64 LE with a .text section and a section-name table.
        let exe = std::env::current_exe().unwrap();
        let mut f = std::fs::File::open(&exe).unwrap();
        let strtab = read_section(&mut f, ".shstrtab", 1 << 20, "self")
            .unwrap()
            .expect(".shstrtab");
        assert!(strtab.windows(6).any(|w| w == b".text\0"));
        assert_eq!(read_section(&mut f, ".no-such-section", 1 << 20, "self").unwrap(), None);
        let err = read_section(&mut f, ".shstrtab", 1, "self").unwrap_err().to_string();
        assert!(err.starts_with("self: line 0: section .shstrtab is"), "{err}");
    }

    #[test]
    fn non_elf_is_none() {
        let mut c = Cursor::new(b"#!/bin/sh\necho hi\n".repeat(10));
        assert_eq!(read_section(&mut c, ".text", 100, "script").unwrap(), None);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..4096), elf_head in any::<bool>()) {
            if elf_head && bytes.len() >= 6 {
                bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
            }
            let _ = read_section(&mut Cursor::new(bytes), ".go.buildinfo", 1 << 16, "fuzz");
        }
    }
}
