//! Compiles bpf/sensor.bpf.c with clang when it is installed, otherwise uses
//! the committed bpf/sensor.bpf.o, so a machine with only Rust still builds.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let bpf = dir.join("bpf");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("sensor.bpf.o");
    for f in ["sensor.bpf.c", "vmlinux.h", "sensor.bpf.o"] {
        println!("cargo:rerun-if-changed={}", bpf.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=WEIR_BPF_PREBUILT");
    let prebuilt = bpf.join("sensor.bpf.o");
    if std::env::var_os("WEIR_BPF_PREBUILT").is_none() && compile(&bpf, &out) {
        return;
    }
    std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("copying {}: {e}", prebuilt.display()));
}

/// Builds the object with clang + llvm-strip; false when the tools are absent.
fn compile(bpf: &Path, out: &Path) -> bool {
    let status = Command::new("clang")
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86"])
        // Paths recorded in the object's BTF become relative, so the object
        // is the same whatever directory the tree is checked out in.
        .arg(format!(
            "-fdebug-prefix-map={}=.",
            bpf.parent().expect("crate dir").display()
        ))
        .arg(format!("-I{}", bpf.display()))
        .arg("-c")
        .arg(bpf.join("sensor.bpf.c"))
        .arg("-o")
        .arg(out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("clang failed to compile bpf/sensor.bpf.c ({s})"),
        Err(_) => {
            println!("cargo:warning=clang not found; using the committed bpf/sensor.bpf.o");
            return false;
        }
    }
    match Command::new("llvm-strip").arg("-g").arg(out).status() {
        Ok(s) if s.success() => true,
        Ok(s) => panic!("llvm-strip failed on the BPF object ({s})"),
        Err(_) => {
            println!("cargo:warning=llvm-strip not found; using the committed bpf/sensor.bpf.o");
            false
        }
    }
}
