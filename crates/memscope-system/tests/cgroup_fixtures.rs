//! Reading cgroup trees laid out as the kernel lays them out, from fixture
//! directories: `fixtures/cgroup-v1` is a v1 memory controller mount with Docker
//! and Kubernetes (cgroupfs driver) children, `fixtures/cgroup-v2` a unified
//! hierarchy with systemd-driver Docker and Kubernetes scopes.

use std::path::PathBuf;

use memscope_system::{
    write_cgroup_table, CgroupHierarchy, CgroupMemory, CgroupVersion, ContainerId,
};

const DOCKER: &str = "8f14e45fceea167a5a36dedd4bea2543c4ca0a9d1f2b8e6e0c3f2d4a9b8c7d6e";
const KUBE: &str = "c9f0f895fb98ab9159f51fd0297e236d1a5f0e9c3b2d4e6f8a0b1c2d3e4f5a6b";

/// A cgroup's figures in the order of the JSON fields: path, memory, limit, peak,
/// anon, file, processes, container.
type Row<'a> = (&'a str, u64, Option<u64>, Option<u64>, u64, u64, usize, Option<&'a str>);

fn fixture(name: &str, version: CgroupVersion) -> CgroupHierarchy {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    CgroupHierarchy::new(dir, version)
}

fn rows(cgroups: &[CgroupMemory]) -> Vec<Row<'_>> {
    cgroups
        .iter()
        .map(|c| {
            (
                c.path.as_str(),
                c.memory_bytes,
                c.limit_bytes,
                c.peak_bytes,
                c.anon_bytes,
                c.file_bytes,
                c.processes,
                c.container.as_ref().map(ContainerId::as_str),
            )
        })
        .collect()
}

#[test]
fn v1_tree_reads_usage_limits_peaks_and_hierarchical_stat() {
    let cgroups = CgroupMemory::read_all(&fixture("cgroup-v1", CgroupVersion::V1)).unwrap();
    let docker = format!("/docker/{DOCKER}");
    let pod = "/kubepods/burstable/pod3b5d5c37-1a8e-4b2a-9c7f-2e4d6f8a0b1c";
    let kube = format!("{pod}/{KUBE}");
    let expected: Vec<Row> = vec![
        ("/", 697184256, None, Some(751534336), 402653184, 260046848, 3, None),
        ("/docker", 301989888, None, Some(318767104), 268435456, 33554432, 0, None),
        (
            &docker,
            301989888,
            Some(536870912),
            Some(318767104),
            268435456,
            33554432,
            2,
            Some(DOCKER),
        ),
        ("/kubepods", 100663296, Some(8053063680), Some(134217728), 67108864, 25165824, 0, None),
        ("/kubepods/burstable", 100663296, None, Some(134217728), 67108864, 25165824, 0, None),
        (pod, 100663296, Some(268435456), Some(134217728), 67108864, 25165824, 0, None),
        (&kube, 92274688, Some(268435456), Some(125829120), 67108864, 25165824, 1, Some(KUBE)),
        // Its limit, 9223372036854710272, is "unlimited" on a kernel with 64 KiB pages.
        ("/user.slice", 4194304, None, Some(8388608), 2097152, 2097152, 1, None),
    ];
    assert_eq!(rows(&cgroups), expected);
}

#[test]
fn v2_tree_skips_the_root_and_cgroups_without_the_memory_controller() {
    let cgroups = CgroupMemory::read_all(&fixture("cgroup-v2", CgroupVersion::V2)).unwrap();
    let burstable = "/kubepods.slice/kubepods-burstable.slice";
    let pod =
        format!("{burstable}/kubepods-burstable-pod3b5d5c37_1a8e_4b2a_9c7f_2e4d6f8a0b1c.slice");
    let kube = format!("{pod}/cri-containerd-{KUBE}.scope");
    let docker = format!("/system.slice/docker-{DOCKER}.scope");
    let user = "/user.slice/user-1000.slice";
    let session = "/user.slice/user-1000.slice/session-2.scope";
    let expected: Vec<Row> = vec![
        (
            "/kubepods.slice",
            52428800,
            Some(16458534912),
            Some(62914560),
            41943040,
            8388608,
            0,
            None,
        ),
        (burstable, 52428800, None, Some(62914560), 41943040, 8388608, 0, None),
        (&pod, 52428800, Some(134217728), Some(62914560), 41943040, 8388608, 0, None),
        (&kube, 50331648, Some(134217728), Some(60817408), 41943040, 8388608, 1, Some(KUBE)),
        ("/system.slice", 1073741824, None, Some(1610612736), 402653184, 612368384, 0, None),
        (
            &docker,
            209715200,
            Some(268435456),
            Some(230686720),
            150994944,
            52428800,
            2,
            Some(DOCKER),
        ),
        // Kernels before 5.19 keep no memory.peak.
        ("/user.slice", 157286400, None, None, 104857600, 50331648, 0, None),
        (user, 157286400, Some(4294967296), None, 104857600, 50331648, 0, None),
        (session, 157286400, None, None, 104857600, 50331648, 3, None),
    ];
    assert_eq!(rows(&cgroups), expected);
}

#[test]
fn one_cgroup_reads_by_path_and_absent_ones_are_none() {
    let hierarchy = fixture("cgroup-v2", CgroupVersion::V2);
    let docker = format!("/system.slice/docker-{DOCKER}.scope");
    let cgroup = CgroupMemory::read(&hierarchy, &docker).unwrap().unwrap();
    assert_eq!(cgroup.memory_bytes, 209715200);
    assert_eq!(cgroup.percent_of_limit(), Some(78.125));
    assert_eq!(CgroupMemory::read(&hierarchy, "/init.scope").unwrap(), None);
    assert_eq!(CgroupMemory::read(&hierarchy, "/no/such.slice").unwrap(), None);
}

#[test]
fn json_has_the_documented_fields_and_the_full_container_id() {
    let hierarchy = fixture("cgroup-v1", CgroupVersion::V1);
    let cgroup = CgroupMemory::read(&hierarchy, &format!("/docker/{DOCKER}")).unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&cgroup).unwrap(),
        serde_json::json!({
            "path": format!("/docker/{DOCKER}"),
            "memory_bytes": 301989888u64,
            "limit_bytes": 536870912u64,
            "peak_bytes": 318767104u64,
            "anon_bytes": 268435456u64,
            "file_bytes": 33554432u64,
            "processes": 2,
            "container": DOCKER,
        })
    );
    let root = CgroupMemory::read(&hierarchy, "/").unwrap().unwrap();
    let json = serde_json::to_value(&root).unwrap();
    assert_eq!(json["limit_bytes"], serde_json::Value::Null);
    assert_eq!(json["container"], serde_json::Value::Null);
}

#[test]
fn text_table_shows_short_container_ids_and_percent_of_limit() {
    let hierarchy = fixture("cgroup-v2", CgroupVersion::V2);
    let cgroups = CgroupMemory::read_all(&hierarchy).unwrap();
    let mut out = Vec::new();
    write_cgroup_table(&mut out, &cgroups[4..6]).unwrap();
    let expected = [
        "    USAGE      LIMIT  %LIMIT       PEAK       ANON       FILE  PROCS  CONTAINER     PATH",
        "  1.0 GiB  unlimited       -    1.5 GiB  384.0 MiB  584.0 MiB      0  -             /system.slice",
        &format!(
            "200.0 MiB  256.0 MiB   78.1%  220.0 MiB  144.0 MiB   50.0 MiB      2  8f14e45fceea  /system.slice/docker-{DOCKER}.scope"
        ),
    ];
    assert_eq!(String::from_utf8(out).unwrap().lines().collect::<Vec<_>>(), expected);
    let short = ContainerId::from_cgroup_path(&format!("/docker/{DOCKER}")).unwrap();
    assert_eq!(short.short(), &DOCKER[..12]);
}
