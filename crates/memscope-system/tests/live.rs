//! The system view against real processes: a C program holding 64 MiB of touched
//! memory must show up with that much in the process scan, in its cgroup and in
//! every sample of a watch, and the figures must agree with the kernel's own
//! counters (`/proc/PID/status`) and with procps `ps`.

#[path = "support/hog.rs"]
mod hog;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hog::{assert_near, proc_memory_cgroup, ps_rss, status_rss, unused_pid, Hog, MIB};
use memscope_system::{
    scan_processes, watch, CgroupHierarchy, CgroupMemory, Error, Pid, ProcessMemory, Sample,
    WatchEnd, WatchOptions,
};

const HELD: u64 = 64 * MIB;

fn find(processes: &[ProcessMemory], pid: i32) -> &ProcessMemory {
    processes
        .iter()
        .find(|process| process.pid == Pid(pid))
        .unwrap_or_else(|| panic!("pid {pid} is not in the scan"))
}

fn watch_for(pid: i32, options: WatchOptions) -> (Result<WatchEnd, Error>, Vec<Sample>) {
    let hierarchy = CgroupHierarchy::detect().ok();
    let mut samples = Vec::new();
    let stop = AtomicBool::new(false);
    let end = watch(Pid(pid), hierarchy.as_ref(), &options, &stop, &mut samples);
    (end, samples)
}

#[test]
fn scan_finds_a_process_holding_64_mib() {
    let baseline = Hog::start(0);
    let hog = Hog::start(64);
    let hierarchy = CgroupHierarchy::detect().ok();
    let scan = scan_processes(hierarchy.as_ref()).unwrap();
    let base = find(&scan.processes, baseline.pid());
    let held = find(&scan.processes, hog.pid());

    assert_near("RSS", held.usage.rss_bytes, base.usage.rss_bytes + HELD);
    assert_near("USS", held.usage.uss_bytes, base.usage.uss_bytes + HELD);
    assert!(held.usage.pss_bytes >= HELD && held.usage.pss_bytes <= held.usage.rss_bytes);
    assert!(held.command.contains("memhog 64 600"), "{}", held.command);
    assert_eq!(held.cgroup.as_deref(), Some(proc_memory_cgroup(hog.pid()).as_str()));

    // The kernel's counters and procps agree with the page-table walk.
    assert_near("VmRSS", status_rss(hog.pid()), held.usage.rss_bytes);
    assert_near("ps rss", ps_rss(hog.pid()), held.usage.rss_bytes);
}

#[test]
fn the_cgroup_of_a_process_accounts_its_memory() {
    let hog = Hog::start(64);
    let hierarchy = CgroupHierarchy::detect().expect("this machine mounts a memory cgroup tree");
    let path = proc_memory_cgroup(hog.pid());
    let cgroups = CgroupMemory::read_all(&hierarchy).unwrap();
    let cgroup = cgroups
        .iter()
        .find(|cgroup| cgroup.path == path)
        .unwrap_or_else(|| panic!("cgroup {path} is not listed"));

    assert!(cgroup.memory_bytes >= HELD, "{cgroup:?}");
    assert!(cgroup.anon_bytes >= HELD, "{cgroup:?}");
    assert!(cgroup.processes >= 1, "{cgroup:?}");
    let procs =
        std::fs::read_to_string(hierarchy.dir(&path).unwrap().join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|line| line == hog.pid().to_string()));
}

#[test]
fn every_sample_of_a_watch_shows_the_held_memory() {
    let baseline = Hog::start(0);
    let hog = Hog::start(64);
    let expected_rss = status_rss(baseline.pid()) + HELD;
    let options = WatchOptions {
        interval: Duration::from_millis(50),
        duration: Some(Duration::from_millis(300)),
    };
    let (end, samples) = watch_for(hog.pid(), options);

    assert_eq!(end.unwrap(), WatchEnd::DurationElapsed);
    // Due at 0, 50, ..., 300 ms.
    assert_eq!(samples.len(), 7, "{samples:?}");
    assert!(samples[0].t_ms < 50, "{samples:?}");
    assert!(samples.windows(2).all(|pair| pair[0].t_ms <= pair[1].t_ms));
    for sample in &samples {
        assert_near("sampled RSS", sample.rss_bytes, expected_rss);
        assert!(sample.pss_bytes >= HELD, "{sample:?}");
        assert!(sample.cgroup_bytes.is_some_and(|bytes| bytes >= HELD), "{sample:?}");
    }
}

#[test]
fn a_watch_ends_cleanly_when_the_process_exits() {
    let mut hog = Hog::start_for(8, 1);
    let options = WatchOptions { interval: Duration::from_millis(50), duration: None };
    // The hog is not reaped while watched: the watch must also end on a zombie.
    let (end, samples) = watch_for(hog.pid(), options);
    hog.wait();

    assert_eq!(end.unwrap(), WatchEnd::ProcessExited);
    assert!(samples.len() >= 5, "{samples:?}");
    assert!(samples.last().unwrap().t_ms < 3000, "{samples:?}");
}

#[test]
fn a_raised_stop_flag_ends_the_watch_after_the_first_sample() {
    let hog = Hog::start(0);
    let options = WatchOptions { interval: Duration::from_secs(60), duration: None };
    let mut samples = Vec::new();
    let end = watch(Pid(hog.pid()), None, &options, &AtomicBool::new(true), &mut samples);
    assert_eq!(end.unwrap(), WatchEnd::Stopped);
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].cgroup_bytes, None);
}

#[test]
fn watching_a_missing_pid_says_there_is_no_such_process() {
    let pid = unused_pid();
    let options = WatchOptions { interval: Duration::from_millis(50), duration: None };
    let (end, samples) = watch_for(pid, options);
    let err = end.unwrap_err();
    assert!(matches!(err, Error::NoSuchProcess { pid: Pid(p) } if p == pid), "{err:?}");
    assert_eq!(err.to_string(), format!("no process with pid {pid}"));
    assert!(samples.is_empty());
}
