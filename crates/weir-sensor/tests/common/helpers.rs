//! Actions the tests run in child processes (this binary re-executed with
//! WEIR_HELPER set), written with libc so the syscalls are exactly known.

use std::ffi::CString;

fn result(s: impl std::fmt::Display) {
    println!("RESULT {s}");
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub fn run(action: &str, args: &[String]) {
    // SAFETY (whole function): direct syscalls with valid, owned buffers.
    unsafe {
        match action {
            "setuid" => {
                let r = libc::setuid(args[0].parse().unwrap());
                result(r);
            }
            "login-then-exec" => {
                // Simulate a login: set the audit uid, drop to a user, exec.
                // Only the task itself may write it: this runs on a test thread.
                std::fs::write("/proc/thread-self/loginuid", &args[0]).expect("write loginuid");
                let uid: u32 = args[1].parse().unwrap();
                assert_eq!(libc::setresgid(uid, uid, uid), 0);
                assert_eq!(libc::setresuid(uid, uid, uid), 0);
                let prog = cstr("/bin/true");
                let a1 = cstr(&args[2]);
                let argv = [prog.as_ptr(), a1.as_ptr(), std::ptr::null()];
                libc::execv(prog.as_ptr(), argv.as_ptr());
                panic!("execv failed");
            }
            "ptrace" => {
                let child = libc::fork();
                if child == 0 {
                    loop {
                        libc::pause();
                    }
                }
                assert_eq!(libc::ptrace(libc::PTRACE_ATTACH, child, 0, 0), 0);
                let mut st = 0;
                libc::waitpid(child, &mut st, 0);
                libc::ptrace(libc::PTRACE_DETACH, child, 0, 0);
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, &mut st, 0);
                result(child);
            }
            "memfd-exec" => {
                let name = cstr(&args[0]);
                let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC);
                assert!(fd >= 0);
                let bin = std::fs::read("/bin/true").unwrap();
                assert_eq!(libc::write(fd, bin.as_ptr().cast(), bin.len()) as usize, bin.len());
                let a0 = cstr(&args[1]);
                let argv = [a0.as_ptr(), std::ptr::null()];
                let envp: [*const libc::c_char; 1] = [std::ptr::null()];
                let empty = cstr("");
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    empty.as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
                panic!("execveat failed");
            }
            "bpf-load" => {
                let insns: [u64; 2] = [0xb7, 0x95];
                let license = cstr("GPL");
                let mut attr = [0u8; 128];
                attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // socket filter
                attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
                attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
                attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
                let name = args[0].as_bytes();
                attr[48..48 + name.len()].copy_from_slice(name);
                let fd = libc::syscall(libc::SYS_bpf, 5, attr.as_mut_ptr(), 128u32);
                assert!(fd >= 0, "bpf prog load: {}", std::io::Error::last_os_error());
                result(fd);
            }
            "net" => {
                use std::io::{Read, Write};
                let host = if args[0] == "6" { "[::1]:0" } else { "127.0.0.1:0" };
                let l = std::net::TcpListener::bind(host).unwrap();
                let laddr = l.local_addr().unwrap();
                let mut c = std::net::TcpStream::connect(laddr).unwrap();
                let (mut s, peer) = l.accept().unwrap();
                c.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                result(format!("{} {}", laddr.port(), peer.port()));
            }
            "storm" => {
                let path = args[0].clone();
                let n: usize = args[1].parse().unwrap();
                let threads: Vec<_> = (0..2)
                    .map(|_| {
                        let p = cstr(&path);
                        std::thread::spawn(move || {
                            for _ in 0..n {
                                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                                assert!(fd >= 0);
                                libc::close(fd);
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                result(2 * n);
            }
            "openat-dirfd" => {
                // openat on a directory descriptor, with a relative name.
                let dir = libc::open(cstr(&args[0]).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                assert!(dir >= 0);
                let fd = libc::openat(dir, cstr(&args[1]).as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                assert!(fd >= 0);
                libc::close(fd);
                libc::close(dir);
                result(fd);
            }
            "open-loop" => {
                // open(path, O_WRONLY | O_CREAT) and close, args[1] times.
                let p = cstr(&args[0]);
                let n: usize = args[1].parse().unwrap();
                for _ in 0..n {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                    assert!(fd >= 0);
                    libc::close(fd);
                }
                result(n);
            }
            "open-flags" => {
                // One open with the given octal flags; prints the return and errno.
                let flags = i32::from_str_radix(&args[1], 8).unwrap();
                let fd = libc::open(cstr(&args[0]).as_ptr(), flags, 0o600);
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if fd >= 0 {
                    libc::close(fd);
                }
                result(format!("{fd} {errno}"));
            }
            "unlink" => {
                let r = libc::unlink(cstr(&args[0]).as_ptr());
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                result(format!("{r} {errno}"));
            }
            "create-in" => {
                // chdir to args[0], then create the relative name args[1].
                assert_eq!(libc::chdir(cstr(&args[0]).as_ptr()), 0);
                let fd = libc::open(cstr(&args[1]).as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
                assert!(fd >= 0, "create {}: {}", args[1], std::io::Error::last_os_error());
                libc::close(fd);
                result(fd);
            }
            other => panic!("unknown helper action {other}"),
        }
    }
}
