//! Allocation assertions for tests, like Go's `b.ReportAllocs()` or pytest-memray's
//! `limit_memory`, correct when `cargo test` runs tests on parallel threads.
//!
//! [`measure`] counts what the calling thread allocates inside a closure (and threads
//! it starts there with [`spawn`]), and which of those blocks are still live after it,
//! wherever they were freed. Each measurement also tags its allocations, so a failed
//! assertion names the sites that allocated, and only those.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: memscope::Profiler<std::alloc::System> = memscope::Profiler::new(std::alloc::System);
//!
//! #[test]
//! fn parsing_a_line_allocates_at_most_twice() {
//!     memscope::testing::assert_allocations_at_most(2, || parse("a=1"));
//! }
//! # fn parse(_: &str) {}
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::config::Config;
use crate::snapshot::{snapshot, Site, Snapshot};

/// What a closure allocated.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Bytes it allocated.
    pub allocated_bytes: u64,
    /// Blocks it allocated.
    pub allocated_blocks: u64,
    /// The most bytes of its blocks alive at once.
    pub peak_bytes: u64,
    /// Bytes of its blocks still alive after it.
    pub live_bytes: u64,
    /// Its blocks still alive after it.
    pub live_blocks: u64,
    /// The tag its allocations carried, and the state before it (for
    /// [`sites`](Measurement::sites)).
    slot: Arc<Slot>,
    before: Snapshot,
}

/// Measurements tag their allocations with one of a few reused names,
/// `memscope-measure-N`, one per measurement under way: a name per measurement would
/// grow the recording's module map without bound. A slot is free again once its
/// measurement is dropped.
#[derive(Debug)]
struct Slot {
    index: usize,
    tag: String,
}

static SLOTS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

impl Slot {
    fn take() -> Slot {
        let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        let index = slots.iter().position(|taken| !taken).unwrap_or(slots.len());
        if index == slots.len() {
            slots.push(true);
        }
        slots[index] = true;
        Slot { index, tag: format!("memscope-measure-{index}") }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::inside_memscope(|| {
            SLOTS.lock().unwrap_or_else(PoisonError::into_inner)[self.index] = false
        });
    }
}

#[derive(Default)]
struct Counts {
    allocated_bytes: u64,
    allocated_blocks: u64,
    live_bytes: u64,
    live_blocks: u64,
    peak_bytes: u64,
}

#[derive(Default)]
struct Registry {
    /// Blocks allocated inside a measurement, by address: the measurement and size.
    blocks: HashMap<usize, (u64, u64)>,
    measurements: HashMap<u64, Counts>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
/// Measurements under way: while there is none, the allocator's hooks do nothing here.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The measurement the thread's allocations count toward (0: none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// The tag slot of that measurement.
    static SLOT_TAG: Cell<Option<Arc<Slot>>> = const { Cell::new(None) };
}

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    f(registry.get_or_insert_with(Registry::default))
}

/// From the allocator: a block allocated (inside the recorder's guard).
pub(crate) fn allocated(ptr: *mut u8, size: usize) {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    let id = CURRENT.try_with(Cell::get).unwrap_or(0);
    if id == 0 {
        return;
    }
    with_registry(|registry| {
        let Some(counts) = registry.measurements.get_mut(&id) else { return };
        let size = size as u64;
        counts.allocated_bytes += size;
        counts.allocated_blocks += 1;
        counts.live_bytes += size;
        counts.live_blocks += 1;
        counts.peak_bytes = counts.peak_bytes.max(counts.live_bytes);
        registry.blocks.insert(ptr as usize, (id, size));
    });
}

/// From the allocator: a block freed, by any thread.
pub(crate) fn freed(ptr: *mut u8) {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    with_registry(|registry| {
        let Some((id, size)) = registry.blocks.remove(&(ptr as usize)) else { return };
        if let Some(counts) = registry.measurements.get_mut(&id) {
            counts.live_bytes -= size;
            counts.live_blocks -= 1;
        }
    });
}

/// Runs `f` and measures what it allocated on the calling thread (and on threads it
/// starts with [`spawn`]). Starts memscope (live mode) if it is not recording yet.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measurement) {
    if crate::runtime::running().is_none() {
        crate::start(Config::default())
            .expect("memscope cannot record: is memscope::Profiler the global allocator?");
    }
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (slot, before) = crate::inside_memscope(|| {
        with_registry(|r| r.measurements.insert(id, Counts::default()));
        (Arc::new(Slot::take()), snapshot())
    });
    ACTIVE.fetch_add(1, Ordering::AcqRel);
    let previous = CURRENT.with(|current| current.replace(id));
    SLOT_TAG.with(|tag| tag.set(Some(slot.clone())));
    let result = crate::with_tag(&slot.tag, f);
    SLOT_TAG.with(|tag| tag.set(None));
    CURRENT.with(|current| current.set(previous));
    let counts = crate::inside_memscope(|| {
        with_registry(|r| {
            r.blocks.retain(|_, (owner, _)| *owner != id);
            r.measurements.remove(&id).unwrap_or_default()
        })
    });
    ACTIVE.fetch_sub(1, Ordering::AcqRel);
    let measurement = Measurement {
        allocated_bytes: counts.allocated_bytes,
        allocated_blocks: counts.allocated_blocks,
        peak_bytes: counts.peak_bytes,
        live_bytes: counts.live_bytes,
        live_blocks: counts.live_blocks,
        slot,
        before,
    };
    (result, measurement)
}

/// Starts a thread whose allocations count toward the calling thread's measurement
/// (and carry its tag).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let id = CURRENT.with(Cell::get);
    let slot = SLOT_TAG.with(|tag| {
        let slot = tag.take();
        tag.set(slot.clone());
        slot
    });
    std::thread::spawn(move || {
        CURRENT.with(|current| current.set(id));
        match slot {
            Some(slot) => crate::with_tag(&slot.tag, f),
            None => f(),
        }
    })
}

impl Measurement {
    /// The sites that allocated inside the measurement, most bytes first.
    pub fn sites(&self) -> Vec<Site> {
        let mut sites = snapshot().diff(&self.before).sites_tagged(&self.slot.tag);
        sites.sort_by_key(|site| std::cmp::Reverse(site.allocated_bytes));
        sites
    }

    fn report(&self, what: &str) -> String {
        let mut text = format!(
            "{what}\n  allocated {} bytes in {} blocks (peak {} bytes); {} bytes in {} blocks still live\n  allocating sites:\n",
            self.allocated_bytes, self.allocated_blocks, self.peak_bytes, self.live_bytes, self.live_blocks
        );
        for site in self.sites().iter().take(5) {
            let place = match (&site.file, site.line) {
                (Some(file), Some(line)) => format!(" at {file}:{line}"),
                _ => String::new(),
            };
            let _ = writeln!(
                text,
                "    {} bytes ({} live) in {}{place}",
                site.allocated_bytes, site.bytes, site.function
            );
        }
        text
    }
}

/// Fails (panics) if `f`'s allocations ever hold more than `max` bytes at once.
#[track_caller]
pub fn assert_max_bytes<R>(max: u64, f: impl FnOnce() -> R) -> R {
    let (result, m) = measure(f);
    if m.peak_bytes > max {
        panic!("{}", m.report(&format!("memory held at once went over {max} bytes")));
    }
    result
}

/// Fails (panics) if a block `f` allocated is still live after it.
#[track_caller]
pub fn assert_no_leaks<R>(f: impl FnOnce() -> R) -> R {
    let (result, m) = measure(f);
    if m.live_blocks != 0 {
        panic!("{}", m.report("blocks allocated inside are still live"));
    }
    result
}

/// Fails (panics) if `f` makes more than `max` allocations.
#[track_caller]
pub fn assert_allocations_at_most<R>(max: u64, f: impl FnOnce() -> R) -> R {
    let (result, m) = measure(f);
    if m.allocated_blocks > max {
        panic!("{}", m.report(&format!("more than {max} allocations")));
    }
    result
}
