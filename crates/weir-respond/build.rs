//! Compiles bpf/respond.bpf.c with clang when it is installed, otherwise uses
//! the committed bpf/respond.bpf.o, so a machine with only Rust still builds.
//! The kernel type header is the sensor's (crates/weir-sensor/bpf/vmlinux.h).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let bpf = dir.join("bpf");
    let vmlinux_dir = dir.join("../weir-sensor/bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("respond.bpf.o");
    for f in [
        bpf.join("respond.bpf.c"),
        bpf.join("respond.bpf.o"),
        vmlinux_dir.join("vmlinux.h"),
    ] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rerun-if-env-changed=WEIR_BPF_PREBUILT");
    let prebuilt = bpf.join("respond.bpf.o");
    if std::env::var_os("WEIR_BPF_PREBUILT").is_none() && compile(&dir, &out) {
        return;
    }
    std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("copying {}: {e}", prebuilt.display()));
}

/// Builds the object with clang + llvm-strip; false when the tools are absent.
fn compile(crate_dir: &Path, out: &Path) -> bool {
    let status = Command::new("clang")
        .current_dir(crate_dir)
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"])
        // Paths recorded in the object's BTF become relative, so the object
        // is the same whatever directory the tree is checked out in.
        .arg(format!(
            "-fdebug-prefix-map={}=.",
            crate_dir.parent().expect("crates dir").display()
        ))
        .args(["-I../weir-sensor/bpf", "-c", "bpf/respond.bpf.c", "-o"])
        .arg(out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("clang failed to compile bpf/respond.bpf.c ({s})"),
        Err(_) => {
            println!("cargo:warning=clang not found; using the committed bpf/respond.bpf.o");
            return false;
        }
    }
    match Command::new("llvm-strip").arg("-g").arg(out).status() {
        Ok(s) if s.success() => true,
        Ok(s) => panic!("llvm-strip failed on the BPF object ({s})"),
        Err(_) => {
            println!("cargo:warning=llvm-strip not found; using the committed bpf/respond.bpf.o");
            false
        }
    }
}
