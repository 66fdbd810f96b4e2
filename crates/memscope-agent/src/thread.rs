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
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

/// Closes a thread's record, and the record of its signal handlers' events.
pub(crate) fn close(area: &Area, record: &ThreadRecord) {
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
