//! Which thread record the calling thread records into. The record is found through a
//! pthread key, not a thread-local: the preload library has no TLS segment at all, so
//! glibc's per-thread TLS bookkeeping (which it allocates with malloc, in every thread)
//! is the same size as without memscope.
//!
//! A thread's record is claimed at its first event and closed by the key's destructor,
//! which glibc runs after the thread's C++ and Rust thread-local destructors, so their
//! frees are recorded. A thread that ends without running key destructors (the main
//! thread at `exit`) leaves its record open; the collector reads it to the end anyway.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::area::{
    Area, ThreadRecord, MAX_THREADS, THREAD_ACTIVE, THREAD_CLOSED, THREAD_FREE, THREAD_SETUP,
};
use crate::sys;

static KEY: AtomicU32 = AtomicU32::new(0);
static KEY_READY: AtomicBool = AtomicBool::new(false);

/// Creates the key whose value is each thread's record. Once per process.
pub(crate) fn create_key(destructor: unsafe extern "C" fn(*mut c_void)) -> bool {
    if KEY_READY.load(Ordering::Acquire) {
        return true;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: pthread_key_create writes the new key; the destructor has the C ABI.
    if unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } != 0 {
        return false;
    }
    KEY.store(key, Ordering::Relaxed);
    KEY_READY.store(true, Ordering::Release);
    true
}

/// The calling thread's record, if it has one.
#[inline(always)]
pub(crate) fn current() -> *mut ThreadRecord {
    // SAFETY: the key was created before any record was attached (`create_key`).
    unsafe { libc::pthread_getspecific(KEY.load(Ordering::Relaxed)) as *mut ThreadRecord }
}

/// Thread records by thread pointer, for the sampled fast path: a few instructions and
/// no call, where the key's lookup is a call into glibc. Each entry is
/// `tp << 12 | index + 1` (user-space thread pointers have at most 48 bits), set at the
/// thread's first event. A thread whose entry another one took (two thread pointers
/// with one hash) is not found, and its calls take the full path, slower but right.
///
/// The cache only decides which countdown an allocation that is not sampled subtracts
/// from: a stale entry (a thread gone without its key destructor, whose thread pointer
/// a new thread got) misplaces a few bytes of countdown, never an event, which is
/// always recorded into the record the key gives.
const CACHED: usize = 4096;
static CACHE: [AtomicU64; CACHED] = [const { AtomicU64::new(0) }; CACHED];
const INDEX_BITS: u32 = 12;
const _: () = assert!(MAX_THREADS < 1 << INDEX_BITS);

/// The calling thread's pointer to its own thread control block (glibc's `pthread_self`).
#[inline(always)]
fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reads the thread pointer register (or the TCB's self pointer at fs:0),
    // which every thread has.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags));
    }
    tp
}

#[inline(always)]
fn cache_entry(tp: u64) -> &'static AtomicU64 {
    &CACHE[(tp.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize % CACHED]
}

/// The calling thread's record to count samples down on, found by its thread pointer
/// (null: the cache does not know the thread, whose calls then take the full path).
#[inline(always)]
pub(crate) fn counting_record(area: &Area) -> *const ThreadRecord {
    let tp = thread_pointer();
    let entry = cache_entry(tp).load(Ordering::Relaxed);
    match (entry & ((1 << INDEX_BITS) - 1)).checked_sub(1) {
        Some(index) if entry >> INDEX_BITS == tp => area.thread(index as usize),
        _ => core::ptr::null(),
    }
}

/// Puts the calling thread's record in the cache.
pub(crate) fn cache(area: &Area, record: &ThreadRecord) {
    let tp = thread_pointer();
    cache_entry(tp)
        .store(tp << INDEX_BITS | u64::from(index_of(area, record) + 1), Ordering::Relaxed);
}

/// Takes the calling thread out of the cache (its record is closing).
fn uncache() {
    let tp = thread_pointer();
    let entry = cache_entry(tp);
    if entry.load(Ordering::Relaxed) >> INDEX_BITS == tp {
        entry.store(0, Ordering::Relaxed);
    }
}

/// Claims a free record of `area` for the calling thread and attaches it; `None` when
/// every record is taken (the thread's events are then dropped and counted).
#[cold]
pub(crate) fn attach(area: &Area) -> Option<&ThreadRecord> {
    let pid = area.header().pid.load(Ordering::Relaxed);
    let tid = sys::gettid();
    let (index, record) = claim(area, pid)?;
    set_up(area, index, record, tid);
    // SAFETY: the key exists; the value is a pointer into the area, which stays mapped.
    unsafe {
        libc::pthread_setspecific(KEY.load(Ordering::Relaxed), record as *const _ as *const c_void)
    };
    Some(record)
}

/// The record for the calling thread's events in signal handlers that interrupted a
/// hook (see [`ThreadRecord::nested`]), claimed at the first such event. Only atomics
/// and `gettid`: it runs in a signal handler.
pub(crate) fn nested_of<'a>(area: &'a Area, record: &ThreadRecord) -> Option<&'a ThreadRecord> {
    if let Some(index) = record.nested.load(Ordering::Acquire).checked_sub(1) {
        return Some(area.thread(index as usize));
    }
    let (index, nested) = claim_free(area)?;
    set_up(area, index, nested, record.tid.load(Ordering::Relaxed));
    record.nested.store(index as u32 + 1, Ordering::Release);
    Some(nested)
}

/// Closes the calling thread's record, and the record of its signal handlers' events.
pub(crate) fn close(area: &Area, record: &ThreadRecord) {
    uncache();
    if let Some(index) = record.nested.load(Ordering::Acquire).checked_sub(1) {
        area.thread(index as usize).state.store(THREAD_CLOSED, Ordering::Release);
    }
    record.state.store(THREAD_CLOSED, Ordering::Release);
}

/// Prepares a claimed record for thread `tid` and publishes it to the collector.
fn set_up(area: &Area, index: usize, record: &ThreadRecord, tid: u32) {
    record.generation.fetch_add(1, Ordering::Relaxed);
    record.tid.store(tid, Ordering::Relaxed);
    record.first_chunk.store(0, Ordering::Relaxed);
    record.current_chunk.store(0, Ordering::Relaxed);
    record.depth.store(0, Ordering::Relaxed);
    record.last_tick.store(u64::MAX, Ordering::Relaxed);
    record.unwinder.store(0, Ordering::Relaxed);
    record.nested.store(0, Ordering::Relaxed);
    record.ignored.store(0, Ordering::Relaxed);
    // Published for the collector only once set up.
    record.state.store(THREAD_ACTIVE, Ordering::Release);
    area.header().threads_high.fetch_max(index as u32 + 1, Ordering::AcqRel);
}

/// A free record, claimed. When none is free, records of threads that are gone without
/// closing theirs (a thread that died with its process still running, or recorded after
/// its key destructor) are closed, and the search runs once more.
fn claim(area: &Area, pid: u32) -> Option<(usize, &ThreadRecord)> {
    claim_free(area).or_else(|| {
        close_abandoned(area, pid);
        claim_free(area)
    })
}

fn claim_free(area: &Area) -> Option<(usize, &ThreadRecord)> {
    (0..MAX_THREADS).map(|index| (index, area.thread(index))).find(|(_, record)| {
        record
            .state
            .compare_exchange(THREAD_FREE, THREAD_SETUP, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

fn close_abandoned(area: &Area, pid: u32) {
    let high = area.header().threads_high.load(Ordering::Acquire) as usize;
    for record in (0..high.min(MAX_THREADS)).map(|index| area.thread(index)) {
        let active = record.state.load(Ordering::Acquire) == THREAD_ACTIVE;
        if active && !sys::thread_exists(pid, record.tid.load(Ordering::Relaxed)) {
            let _ = record.state.compare_exchange(
                THREAD_ACTIVE,
                THREAD_CLOSED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }
}

/// Detaches the calling thread from its record without closing it (a forked child
/// starts afresh).
pub(crate) fn forget_current() {
    CACHE.iter().for_each(|entry| entry.store(0, Ordering::Relaxed));
    if KEY_READY.load(Ordering::Acquire) {
        // SAFETY: the key exists; a null value is always allowed.
        unsafe { libc::pthread_setspecific(KEY.load(Ordering::Relaxed), core::ptr::null()) };
    }
}

/// The record's index in its area.
#[inline(always)]
pub(crate) fn index_of(area: &Area, record: &ThreadRecord) -> u32 {
    let first = area.thread(0) as *const ThreadRecord as usize;
    ((record as *const ThreadRecord as usize - first) / core::mem::size_of::<ThreadRecord>()) as u32
}
