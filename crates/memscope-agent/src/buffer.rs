//! Per-thread event buffers. A thread appends to its current chunk with plain stores
//! and one release store of the length; full chunks go to the writer through a queue
//! locked once per chunk, not once per event. The writer also copies the published
//! prefix of every thread's current chunk every sweep, so idle threads' events reach
//! the file within the flush interval.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use memscope_format::{Event, EventKind, StackId, ThreadId};

/// One hooked call, as the hot path writes it: laid out like the trace's `Event` (24
/// bytes), so a batch of paired events is written as it is. A thread that pairs its
/// own frees stores them paired (the block's size and stack). The solo thread's events
/// are left for the writer to pair (see `pairing`): a `SoloFree` carries the address
/// in `size`, and a `SoloAlloc` is followed by an `Address` slot that does.
#[derive(Copy, Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct RawEvent {
    pub time_ns: u64,
    pub size: u64,
    pub stack: StackId,
    pub kind: RawKind,
}

// `writer` reads batches of paired raw events as trace events.
const _: () = assert!(
    size_of::<RawEvent>() == size_of::<Event>() && align_of::<RawEvent>() == align_of::<Event>()
);

/// The first three are `EventKind`'s, with its values.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RawKind {
    #[default]
    Alloc = 0,
    Free = 1,
    FreeTemporary = 2,
    /// An allocation of the solo thread, for the writer to add to its table.
    SoloAlloc = 3,
    /// A free of the solo thread, still to be paired.
    SoloFree = 4,
    /// The address of the `SoloAlloc` before it.
    Address = 5,
}

impl From<EventKind> for RawKind {
    fn from(kind: EventKind) -> RawKind {
        match kind {
            EventKind::Alloc => RawKind::Alloc,
            EventKind::Free => RawKind::Free,
            EventKind::FreeTemporary => RawKind::FreeTemporary,
        }
    }
}

impl RawKind {
    /// Not a trace event yet: the writer still has to pair it.
    pub(crate) fn is_solo(self) -> bool {
        self as u8 > RawKind::FreeTemporary as u8
    }

    /// The trace's kind of a paired event.
    pub(crate) fn paired(self) -> EventKind {
        match self {
            RawKind::Alloc | RawKind::SoloAlloc => EventKind::Alloc,
            RawKind::FreeTemporary => EventKind::FreeTemporary,
            _ => EventKind::Free,
        }
    }
}

/// Events per chunk (192 KiB): large blocks compress better and cost the writer less
/// per event.
pub(crate) const CHUNK_EVENTS: usize = 8192;
/// Full chunks waiting for the writer before producers wait for it: bounds the
/// agent's memory when the program allocates faster than the writer compresses.
const MAX_QUEUED: usize = 24;

pub(crate) struct Chunk {
    thread: ThreadId,
    /// Which thread buffer owns it (thread ids get reused; this never is).
    owner: u64,
    /// Its place in the owner's sequence of chunks.
    seq: u64,
    /// Events published by the producer.
    len: AtomicUsize,
    /// Events already written by the writer (only the writer touches it).
    copied: AtomicUsize,
    events: UnsafeCell<[RawEvent; CHUNK_EVENTS]>,
}

// SAFETY: the producer writes only slots at or above `len` and publishes them with a
// release store; the writer reads only slots below the `len` it loaded with acquire.
unsafe impl Sync for Chunk {}
// SAFETY: as above; ownership moves between threads through the locked queues.
unsafe impl Send for Chunk {}

impl Chunk {
    /// Built zeroed on the heap: a 192 KiB value on the stack could overflow the small
    /// stacks some programs give their threads.
    fn new() -> Box<Chunk> {
        // SAFETY: every field of Chunk (integers, atomics, events of plain integers
        // whose kind 0 is `Alloc`) is valid when all bits are zero.
        unsafe { Box::<Chunk>::new_zeroed().assume_init() }
    }

    /// Appends one event; returns true when the chunk is now full. A chunk is full
    /// with one slot left, so that [`Chunk::push_pair`] always fits.
    // Inlined down to the hook, so each field is stored straight into the slot: an
    // event passed through memory is reloaded with wider loads than the stores that
    // wrote it, and store forwarding fails on every event.
    #[inline(always)]
    pub(crate) fn push(&self, event: RawEvent) -> bool {
        let n = self.len.load(Ordering::Relaxed);
        // SAFETY: slot n is not yet published, so only this thread touches it.
        unsafe { (self.events.get() as *mut RawEvent).add(n).write(event) };
        self.len.store(n + 1, Ordering::Release);
        n + 2 >= CHUNK_EVENTS
    }

    /// Appends two events that the writer must see together.
    pub(crate) fn push_pair(&self, first: RawEvent, second: RawEvent) -> bool {
        let n = self.len.load(Ordering::Relaxed);
        // SAFETY: a chunk not reported full has two free slots, n and n + 1; they are
        // not yet published, so only this thread touches them.
        unsafe {
            let slots = (self.events.get() as *mut RawEvent).add(n);
            slots.write(first);
            slots.add(1).write(second);
        }
        self.len.store(n + 2, Ordering::Release);
        n + 3 >= CHUNK_EVENTS
    }

    /// (owner, seq): the writer must take a thread's chunks in sequence.
    pub(crate) fn position(&self) -> (u64, u64) {
        (self.owner, self.seq)
    }

    /// The published events the writer has not written yet; marks them written.
    pub(crate) fn take_unwritten(&self) -> (ThreadId, &[RawEvent]) {
        let len = self.len.load(Ordering::Acquire);
        let from = self.copied.swap(len, Ordering::Relaxed);
        // SAFETY: slots below `len` were published and are never written again.
        let events = unsafe {
            std::slice::from_raw_parts((self.events.get() as *const RawEvent).add(from), len - from)
        };
        (self.thread, events)
    }
}

/// What the writer sees of a thread.
pub(crate) struct ThreadShared {
    pub thread: ThreadId,
    current: AtomicPtr<Chunk>,
    exited: AtomicBool,
}

static THREADS: Mutex<Vec<Arc<ThreadShared>>> = Mutex::new(Vec::new());
static FULL: Mutex<VecDeque<Box<Chunk>>> = Mutex::new(VecDeque::new());
/// Signalled when the writer empties `FULL`: producers over the limit sleep on it.
/// Sleeping, not yielding, leaves the CPU to the writer they wait for.
static SPACE: Condvar = Condvar::new();
/// How long a waiting producer sleeps before it checks that the writer still runs.
const SPACE_RECHECK: Duration = Duration::from_millis(10);
static POOL: Mutex<Vec<Box<Chunk>>> = Mutex::new(Vec::new());
/// Events of threads whose thread-local state is already gone (glibc frees a few
/// things after thread-local destructors have run).
static ORPHANS: Mutex<Vec<(ThreadId, RawEvent)>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn fresh_chunk(thread: ThreadId, owner: u64, seq: u64) -> *mut Chunk {
    let mut chunk = lock(&POOL).pop().unwrap_or_else(Chunk::new);
    chunk.thread = thread;
    chunk.owner = owner;
    chunk.seq = seq;
    chunk.len.store(0, Ordering::Relaxed);
    chunk.copied.store(0, Ordering::Relaxed);
    Box::into_raw(chunk)
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// A producer's handle on its own buffer.
pub(crate) struct ThreadBuffer {
    shared: Arc<ThreadShared>,
    chunk: *mut Chunk,
    owner: u64,
    seq: u64,
}

impl ThreadBuffer {
    pub(crate) fn register(thread: ThreadId) -> ThreadBuffer {
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        let chunk = fresh_chunk(thread, owner, 0);
        let shared = Arc::new(ThreadShared {
            thread,
            current: AtomicPtr::new(chunk),
            exited: AtomicBool::new(false),
        });
        lock(&THREADS).push(shared.clone());
        ThreadBuffer { shared, chunk, owner, seq: 0 }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, event: RawEvent, writer_running: bool) {
        // SAFETY: `chunk` is this thread's current chunk; the writer frees chunks only
        // after they were handed over.
        if unsafe { (*self.chunk).push(event) } {
            self.hand_over(writer_running);
        }
    }

    pub(crate) fn push_pair(&mut self, first: RawEvent, second: RawEvent, writer_running: bool) {
        // SAFETY: as in `push`.
        if unsafe { (*self.chunk).push_pair(first, second) } {
            self.hand_over(writer_running);
        }
    }

    #[cold]
    #[inline(never)]
    fn hand_over(&mut self, writer_running: bool) {
        if writer_running {
            wait_for_space();
        }
        self.seq += 1;
        let fresh = fresh_chunk(self.shared.thread, self.owner, self.seq);
        self.shared.current.store(fresh, Ordering::Release);
        let full = std::mem::replace(&mut self.chunk, fresh);
        // SAFETY: `full` came from Box::into_raw and is no longer reachable through
        // `current`; the writer may still hold a reference from a sweep, but sweeps
        // and queue processing both run on the writer thread, one after the other.
        lock(&FULL).push_back(unsafe { Box::from_raw(full) });
        crate::writer::wake();
    }

    /// Hands the last chunk over when the thread ends.
    pub(crate) fn finish(self) {
        self.shared.current.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: as in hand_over.
        lock(&FULL).push_back(unsafe { Box::from_raw(self.chunk) });
        self.shared.exited.store(true, Ordering::Release);
    }
}

/// Waits while the writer has `MAX_QUEUED` chunks to write, unless it stopped.
fn wait_for_space() {
    let mut full = lock(&FULL);
    while full.len() >= MAX_QUEUED && crate::writer::is_running() {
        crate::writer::wake();
        full = match SPACE.wait_timeout(full, SPACE_RECHECK) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

pub(crate) fn push_orphan(thread: ThreadId, event: RawEvent) {
    lock(&ORPHANS).push((thread, event));
}

/// Writer side: full chunks in hand-over order.
pub(crate) fn take_full() -> VecDeque<Box<Chunk>> {
    let full = std::mem::take(&mut *lock(&FULL));
    SPACE.notify_all();
    full
}

/// Writer side: returns a written chunk for reuse.
pub(crate) fn recycle(chunk: Box<Chunk>) {
    let mut pool = lock(&POOL);
    if pool.len() < MAX_QUEUED {
        pool.push(chunk);
    }
}

/// Writer side: calls `f` with the unwritten events of every live thread's current
/// chunk whose earlier chunks `is_next` says were all written (a thread's events must
/// reach the writer in order), and forgets threads that have ended (their last chunk
/// is in the queue).
///
/// `f` gets the thread id and the events.
pub(crate) fn sweep(is_next: impl Fn(u64, u64) -> bool, mut f: impl FnMut(ThreadId, &[RawEvent])) {
    let mut threads = lock(&THREADS);
    threads.retain(|shared| {
        let chunk = shared.current.load(Ordering::Acquire);
        // SAFETY: the chunk is current, or was handed over after we loaded it; either
        // way it is not recycled before the writer (this thread) drains the queue.
        if let Some(chunk) = unsafe { chunk.as_ref() } {
            let (owner, seq) = chunk.position();
            if is_next(owner, seq) {
                let (thread, events) = chunk.take_unwritten();
                if !events.is_empty() {
                    f(thread, events);
                }
            }
        }
        !shared.exited.load(Ordering::Acquire)
    });
    drop(threads);
    let orphans = std::mem::take(&mut *lock(&ORPHANS));
    for run in orphans.chunk_by(|a, b| a.0 == b.0) {
        let events: Vec<RawEvent> = run.iter().map(|(_, e)| *e).collect();
        f(run[0].0, &events);
    }
}
