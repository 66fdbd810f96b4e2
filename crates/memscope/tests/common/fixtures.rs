//! Exact figures from allocations whose sizes are known, checked the same way over
//! every allocator the library wraps (each test binary has its own global allocator).

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, Layout};

use memscope::{snapshot, stats, stats_by_tag, with_tag, Config, Stats};

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// Allocates `size` bytes through the global allocator.
fn take(size: usize) -> usize {
    // SAFETY: a nonzero size.
    unsafe { alloc(layout(size)) as usize }
}

fn give_back(block: usize, size: usize) {
    // SAFETY: `block` came from `take(size)`.
    unsafe { dealloc(block as *mut u8, layout(size)) }
}

/// The resident set and its peak as /proc says, bytes.
fn proc_rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every `Stats` field on exact fixtures, snapshots and their diff, tags and the pprof
/// output.
pub fn exact_figures() {
    memscope::start(Config::default()).expect("start memscope");
    heap_counts();
    resident_set();
    snapshot_diff();
    owner_tags();
}

fn change(from: &Stats, to: &Stats) -> [i64; 6] {
    [
        to.live_bytes as i64 - from.live_bytes as i64,
        to.live_blocks as i64 - from.live_blocks as i64,
        (to.total_allocated_bytes - from.total_allocated_bytes) as i64,
        (to.allocations - from.allocations) as i64,
        (to.frees - from.frees) as i64,
        0,
    ]
}

fn heap_counts() {
    let s0 = stats();
    let (a, b) = (take(1000), take(2000));
    // SAFETY: a nonzero size.
    let c = unsafe { alloc_zeroed(layout(3000)) } as usize;
    let s1 = stats();
    assert_eq!(change(&s0, &s1), [6000, 3, 6000, 3, 0, 0], "three blocks: {s0:?} then {s1:?}");
    give_back(b, 2000);
    let spike = take(1 << 20);
    give_back(spike, 1 << 20);
    // SAFETY: `a` came from take(1000); 1500 is nonzero.
    let a = unsafe { realloc(a as *mut u8, layout(1000), 1500) } as usize;
    let s2 = stats();
    // The realloc counts as memcheck counts it: a free and an allocation.
    assert_eq!(
        change(&s1, &s2),
        [-2000 + 500, -1, (1 << 20) + 1500, 2, 3, 0],
        "{s1:?} then {s2:?}"
    );
    assert_eq!(
        s2.peak_bytes,
        s1.peak_bytes.max(s1.live_bytes - 2000 + (1 << 20)),
        "the spike is the peak"
    );
    give_back(a, 1500);
    give_back(c, 3000);
    let s3 = stats();
    assert_eq!(s3.live_bytes, s0.live_bytes);
    assert_eq!(s3.live_blocks, s0.live_blocks);
}

fn resident_set() {
    const TOUCHED: usize = 64 << 20;
    // SAFETY: a nonzero size.
    let block = unsafe { alloc_zeroed(layout(TOUCHED)) };
    for page in (0..TOUCHED).step_by(4096) {
        // SAFETY: inside the block.
        unsafe { block.add(page).write_volatile(1) };
    }
    let before = proc_rss();
    let figures = stats();
    let after = proc_rss();
    assert!((before.0..=after.0).contains(&figures.rss_bytes), "{before:?} {figures:?} {after:?}");
    assert!(
        (before.1..=after.1).contains(&figures.peak_rss_bytes),
        "{before:?} {figures:?} {after:?}"
    );
    // SAFETY: allocated above with this layout.
    unsafe { dealloc(block, layout(TOUCHED)) };
}

/// The line of the allocation in `allocate_for_diff`.
const DIFF_LINE: u32 = line!() + 4;

#[inline(never)]
fn allocate_for_diff() -> Vec<u8> {
    vec![7u8; 4096]
}

fn snapshot_diff() {
    let older = snapshot();
    let kept = allocate_for_diff();
    let newer = snapshot();
    let diff = newer.diff(&older);
    let sites = diff.sites();
    assert_eq!(sites.len(), 1, "one site changed: {sites:?}");
    let site = &sites[0];
    assert!(site.function.ends_with("allocate_for_diff"), "{site:?}");
    assert_eq!(
        (site.bytes, site.blocks, site.allocated_bytes, site.line),
        (4096, 1, 4096, Some(DIFF_LINE))
    );
    let file = site.file.clone().unwrap();
    assert!(file.ends_with("tests/common/fixtures.rs"), "{file}");
    assert_eq!(
        diff.to_string(),
        format!(
            "change in live memory: +4.0 KiB in 1 blocks\n    +4.0 KiB  {} {file}:{DIFF_LINE}\n",
            site.function
        )
    );
    let before_free = snapshot();
    drop(kept);
    let freed = snapshot().diff(&before_free).sites();
    assert_eq!((freed.len(), freed[0].bytes, freed[0].allocated_bytes), (1, -4096, 0), "{freed:?}");
}

fn owner_tags() {
    let owned = with_tag("fixture-owner", || [take(100), take(200)]);
    let nested = with_tag("outer", || {
        let outer = take(10);
        let inner = with_tag("inner", || take(20));
        [outer, inner, take(30)]
    });
    let of = |tag: &str| {
        let found = stats_by_tag().into_iter().find(|t| t.tag == tag);
        found.map(|t| (t.live_bytes, t.live_blocks, t.allocated_bytes))
    };
    assert_eq!(of("fixture-owner"), Some((300, 2, 300)));
    assert_eq!((of("outer"), of("inner")), (Some((40, 2, 40)), Some((20, 1, 20))));
    // A free made elsewhere, without the tag, still counts against it.
    let freed = owned[1];
    std::thread::spawn(move || give_back(freed, 200)).join().unwrap();
    assert_eq!(of("fixture-owner"), Some((100, 1, 300)));

    let mut profile = Vec::new();
    snapshot().write_pprof(&mut profile).unwrap();
    let profile = super::pprof::decode_bytes(&profile);
    let tables = super::pprof::Tables::new(&profile);
    let tagged: i64 = profile
        .sample
        .iter()
        .filter(|s| {
            s.label
                .iter()
                .any(|l| tables.string(l.key) == "tag" && tables.string(l.str) == "fixture-owner")
        })
        .map(|s| s.value[3])
        .sum();
    assert_eq!(tagged, 100, "inuse_space labelled fixture-owner");
    give_back(owned[0], 100);
    for (block, size) in nested.into_iter().zip([10, 20, 30]) {
        give_back(block, size);
    }
    assert_eq!((of("fixture-owner"), of("outer")), (Some((0, 0, 300)), Some((0, 0, 40))));
}
