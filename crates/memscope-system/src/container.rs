//! Recognising the cgroups that container runtimes create.

use serde::Serialize;

/// Words that appear in the cgroup paths of container runtimes: Docker, containerd
/// (also under Kubernetes), Podman, and the kubelet's pod tree.
const RUNTIME_MARKERS: [&str; 5] = ["docker", "containerd", "libpod", "podman", "kubepods"];

/// Runtimes name a container by 64 hex digits.
const ID_LEN: usize = 64;

/// How many digits identify a container to a person, as `docker ps` shows them.
const SHORT_LEN: usize = 12;

/// The full id of a container, as its runtime names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ContainerId(String);

impl ContainerId {
    /// Finds the container a cgroup belongs to, from the path alone.
    ///
    /// Runtimes name a container's cgroup after its id: `/docker/<id>`,
    /// `/system.slice/docker-<id>.scope`, `.../cri-containerd-<id>.scope`,
    /// `/kubepods/burstable/pod<uid>/<id>`, `/machine.slice/libpod-<id>.scope`. The
    /// deepest such segment wins, so a cgroup nested inside a container (rootless
    /// Podman's `.../libpod-<id>.scope/container`) still finds it. Paths that name
    /// no runtime are never matched, so that other 64-digit names are not mistaken
    /// for containers.
    pub fn from_cgroup_path(path: &str) -> Option<Self> {
        if !RUNTIME_MARKERS.iter().any(|marker| path.contains(marker)) {
            return None;
        }
        path.rsplit('/').find_map(|segment| {
            let name = segment.strip_suffix(".scope").unwrap_or(segment);
            let id = name.rsplit('-').next()?;
            is_id(id).then(|| ContainerId(id.to_string()))
        })
    }

    /// All 64 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, enough to tell containers apart on one host.
    pub fn short(&self) -> &str {
        &self.0[..SHORT_LEN]
    }
}

fn is_id(text: &str) -> bool {
    text.len() == ID_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c2d3e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    fn id_of(path: &str) -> Option<String> {
        ContainerId::from_cgroup_path(path).map(|id| id.as_str().to_string())
    }

    #[test]
    fn runtime_layouts_yield_the_id() {
        let paths = [
            format!("/docker/{ID}"),
            format!("/system.slice/docker-{ID}.scope"),
            format!("/kubepods/burstable/pod0b8f7c3e-2a44-4a8f-9a33-2b2f0e9b1c11/{ID}"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/\
                 kubepods-besteffort-pod0b8f7c3e_2a44_4a8f_9a33_2b2f0e9b1c11.slice/\
                 cri-containerd-{ID}.scope"
            ),
            format!("/machine.slice/libpod-{ID}.scope"),
            format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"),
        ];
        for path in paths {
            assert_eq!(id_of(&path).as_deref(), Some(ID), "{path}");
        }
    }

    #[test]
    fn other_paths_yield_none() {
        for path in [
            "/",
            "/user.slice/user-1000.slice/session-2.scope",
            "/system.slice/docker.service",
            "/kubepods/burstable/pod0b8f7c3e-2a44-4a8f-9a33-2b2f0e9b1c11",
            &format!("/process_api/{ID}"),
        ] {
            assert_eq!(id_of(path), None, "{path}");
        }
    }

    #[test]
    fn short_id_has_twelve_digits() {
        let id = ContainerId::from_cgroup_path(&format!("/docker/{ID}")).unwrap();
        assert_eq!(id.short(), "4f1c2d3e4b5a");
    }
}
