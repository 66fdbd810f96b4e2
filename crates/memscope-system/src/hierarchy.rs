//! Where the memory controller's cgroup tree is mounted, and how a cgroup path as
//! `/proc/PID/cgroup` names it maps to a directory in that tree.

use std::path::PathBuf;

use procfs::process::{MountInfos, Process};

use crate::Error;

/// The interface through which the kernel exposes memory cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// A hierarchy of its own for the `memory` controller (`memory.usage_in_bytes`).
    V1,
    /// The unified hierarchy (`memory.current`, `memory.max`).
    V2,
}

/// A mounted memory cgroup tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupHierarchy {
    version: CgroupVersion,
    mount_point: PathBuf,
    /// The cgroup shown at the mount point: `/` unless the mount exposes only a
    /// subtree, as in a container without its own cgroup namespace.
    mount_root: String,
}

impl CgroupHierarchy {
    /// A tree whose root cgroup is the directory `mount_point`; tests point this at
    /// fixture directories.
    pub fn new(mount_point: impl Into<PathBuf>, version: CgroupVersion) -> Self {
        CgroupHierarchy { version, mount_point: mount_point.into(), mount_root: "/".into() }
    }

    /// Finds the memory tree in `/proc/self/mountinfo`: the v1 `memory` controller
    /// when one is mounted (hybrid systems also mount a v2 tree without it), else the
    /// v2 unified hierarchy.
    pub fn detect() -> Result<Self, Error> {
        let mounts = Process::myself()
            .and_then(|me| me.mountinfo())
            .map_err(|source| Error::ProcFs { path: "/proc/self/mountinfo", source })?;
        Self::from_mounts(&mounts).ok_or(Error::NoMemoryHierarchy)
    }

    fn from_mounts(mounts: &MountInfos) -> Option<Self> {
        let v1 = mounts
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.contains_key("memory"))
            .map(|m| (m, CgroupVersion::V1));
        let (mount, version) = v1.or_else(|| {
            mounts.iter().find(|m| m.fs_type == "cgroup2").map(|m| (m, CgroupVersion::V2))
        })?;
        Some(CgroupHierarchy {
            version,
            mount_point: mount.mount_point.clone(),
            mount_root: mount.root.clone(),
        })
    }

    /// Which interface this tree offers.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The cgroup path of the tree's top directory.
    pub(crate) fn root_path(&self) -> &str {
        &self.mount_root
    }

    /// The directory of the cgroup at `path`; `None` when the path lies outside
    /// what this mount shows.
    pub fn dir(&self, path: &str) -> Option<PathBuf> {
        let below = path.strip_prefix(self.mount_root.trim_end_matches('/'))?;
        if !below.is_empty() && !below.starts_with('/') {
            return None;
        }
        Some(self.mount_point.join(below.trim_start_matches('/')))
    }

    /// The memory cgroup path of a process, as its `/proc/PID/cgroup` gives it.
    pub(crate) fn process_cgroup(&self, process: &Process) -> Option<String> {
        let groups = process.cgroups().ok()?;
        groups
            .into_iter()
            .find(|group| match self.version {
                CgroupVersion::V1 => group.controllers.iter().any(|c| c == "memory"),
                CgroupVersion::V2 => group.hierarchy == 0,
            })
            .map(|group| group.pathname)
    }
}

#[cfg(test)]
mod tests {
    use procfs::FromBufRead;

    use super::*;

    fn hierarchy_from(mountinfo: &str) -> Option<CgroupHierarchy> {
        CgroupHierarchy::from_mounts(&MountInfos::from_buf_read(mountinfo.as_bytes()).unwrap())
    }

    /// Lines as a hybrid systemd host shows them: v1 controllers plus a v2 tree
    /// at `unified` that holds no controller.
    const HYBRID: &str = "\
31 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
38 31 0:35 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
";

    const UNIFIED: &str = "\
25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// A container without a cgroup namespace sees its own cgroup at the mount point.
    const CONTAINER_V1: &str = "\
700 690 0:32 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_host_uses_the_v1_memory_controller() {
        let hierarchy = hierarchy_from(HYBRID).unwrap();
        assert_eq!(hierarchy, CgroupHierarchy::new("/sys/fs/cgroup/memory", CgroupVersion::V1));
    }

    #[test]
    fn unified_host_uses_the_v2_tree() {
        let hierarchy = hierarchy_from(UNIFIED).unwrap();
        assert_eq!(hierarchy, CgroupHierarchy::new("/sys/fs/cgroup", CgroupVersion::V2));
        assert_eq!(
            hierarchy.dir("/system.slice/ssh.service"),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/ssh.service"))
        );
        assert_eq!(hierarchy.dir("/"), Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn no_cgroup_mount_means_no_hierarchy() {
        let proc_only =
            "22 27 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n";
        assert_eq!(hierarchy_from(proc_only), None);
    }

    #[test]
    fn subtree_mount_maps_paths_below_its_root_only() {
        let hierarchy = hierarchy_from(CONTAINER_V1).unwrap();
        assert_eq!(hierarchy.root_path(), "/docker/0123abcd");
        assert_eq!(
            hierarchy.dir("/docker/0123abcd/worker"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/worker"))
        );
        assert_eq!(hierarchy.dir("/docker/0123abcdef"), None);
        assert_eq!(hierarchy.dir("/user.slice"), None);
    }
}
