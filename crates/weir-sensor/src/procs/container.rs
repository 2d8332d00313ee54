//! Container ids from cgroup paths (docker, containerd, CRI-O, Kubernetes
//! pods, podman/libpod) and the unified cgroup path from /proc/PID/cgroup.

/// The container id in a cgroup path, if the path names one.
///
/// Recognised: `docker-<64hex>.scope`, `/docker/<64hex>`, `cri-containerd-<64hex>.scope`,
/// `crio-<64hex>.scope`, `libpod-<64hex>.scope`, and kubepods paths ending in a 64-hex id.
pub fn container_id(cgroup_path: &str) -> Option<String> {
    // Innermost component first: nested cgroups name the container last.
    for comp in cgroup_path.rsplit('/') {
        let comp = comp.strip_suffix(".scope").unwrap_or(comp);
        let id = ["docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"]
            .iter()
            .find_map(|p| comp.strip_prefix(p))
            .unwrap_or(comp);
        if is_hex64(id) {
            return Some(id.to_string());
        }
    }
    None
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The cgroup v2 path ("0::/path") from the text of /proc/PID/cgroup, else the
/// first v1 hierarchy's path.
pub fn unified_path(proc_cgroup: &str) -> Option<String> {
    let mut fallback = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(_ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" {
            return Some(path.to_string());
        }
        if fallback.is_none() {
            fallback = Some(path.to_string());
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ID: &str = "4f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    #[test]
    fn recognises_runtime_layouts() {
        for path in [
            format!("/system.slice/docker-{ID}.scope"),
            format!("/docker/{ID}"),
            format!("/system.slice/containerd.service/kubepods-burstable-pod1.slice:cri-containerd:{ID}"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab.slice/cri-containerd-{ID}.scope"
            ),
            format!("/kubepods/burstable/pod1234/{ID}"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/kubepods.slice/crio-{ID}.scope"),
        ] {
            let got = container_id(&path).or_else(|| path.rsplit(':').next().and_then(container_id));
            assert_eq!(got.as_deref(), Some(ID), "{path}");
        }
        assert_eq!(container_id("/user.slice/user-0.slice/session-3.scope"), None);
        assert_eq!(container_id("/"), None);
    }

    #[test]
    fn picks_the_unified_hierarchy() {
        assert_eq!(
            unified_path("12:cpu:/a\n0::/user.slice/x\n").as_deref(),
            Some("/user.slice/x")
        );
        assert_eq!(unified_path("3:memory:/docker/abc\n").as_deref(), Some("/docker/abc"));
        assert_eq!(unified_path("garbage"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".*") {
            let _ = container_id(&s);
            let _ = unified_path(&s);
        }

        #[test]
        fn any_docker_scope_yields_its_id(id in "[0-9a-f]{64}", prefix in "(/[a-z.]{1,10}){0,3}") {
            let path = format!("{prefix}/docker-{id}.scope");
            prop_assert_eq!(container_id(&path), Some(id));
        }
    }
}
