//! The capture area: the memory the recorder shares with its collector.
//!
//! Everything the recorder sees goes here, nowhere else: a file mapping (or, for the
//! Rust library, anonymous memory) that a collector outside the program's control
//! drains. A program's death at any instant therefore loses nothing it already got back
//! from malloc: every published event is in the mapping, and the collector reads it
//! after the process is gone. The layout is fixed and made of atomics only, so both
//! sides can use it at once without locks:
//!
//! ```text
//! offset 0            Header: clock, heartbeat, state, counters, chunk free list, log positions
//! STRIPES_AT          one u32 sequence counter per address stripe
//! THREADS_AT          MAX_THREADS thread records (one cache line each)
//! LOG_AT              the control log: a byte ring of records (meta, modules, stacks)
//! CHUNKS_AT           CHUNKS chunks of event slots
//! ```
//!
//! **Events.** Each thread appends 24-byte [`Slot`]s to a chain of chunks it owns. A
//! slot is reserved by a single, unlocked `xadd` on the chunk's count (atomic against
//! a signal handler on the same thread, which may record an event of its own in the
//! middle of another), written, and published by storing its kind word last. The
//! collector reads slots in order up to the first one not yet published.
//!
//! **Order.** A free must be paired with the allocation it ends, although the two may
//! happen on different threads and glibc may hand the address out again at once. Every
//! allocation and free therefore takes the next sequence number of its address's
//! *stripe* (one of [`STRIPES`] counters chosen by the address's page): frees
//! before the memory goes back to glibc, allocations after glibc returned it. Two events
//! of one address are thus numbered in the order they really happened, and the
//! collector replays each stripe in its own order. Each counter has a cache line of its
//! own, and glibc gives each thread pages of its own arena, so threads rarely touch the
//! same counter: a counter shared by two cores would move between them on every event.
//!
//! **Time.** The collector advances [`Header::clock_ns`]; a thread that sees it moved
//! publishes a [`Kind::Tick`] before its next event, so an event costs one load of the
//! clock, not a clock read.

use core::mem::size_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The first word of a ready area.
pub const MAGIC: u64 = u64::from_le_bytes(*b"MSCAPTR1");
/// Address stripes, each with its own sequence counter.
pub const STRIPES: usize = 4096;
/// Threads recorded at once; a thread started while all are taken records nothing
/// (its events are counted as dropped).
pub const MAX_THREADS: usize = 1024;
/// Bytes of one chunk of event slots.
pub const CHUNK_BYTES: usize = 32 << 10;
/// Event slots in one chunk.
pub const CHUNK_SLOTS: usize = (CHUNK_BYTES - size_of::<ChunkHeader>()) / size_of::<Slot>();
/// Chunks in the area: 14 MiB of events in flight at most.
pub const CHUNKS: usize = 448;
/// Bytes of the control log's ring.
pub const LOG_BYTES: usize = 2 << 20;

const STRIPES_AT: usize = 4096;
/// Bytes between two stripe counters: a cache line.
const STRIPE_STRIDE: usize = 64;
const THREADS_AT: usize = STRIPES_AT + STRIPES * STRIPE_STRIDE;
const LOG_AT: usize = THREADS_AT + MAX_THREADS * size_of::<ThreadRecord>();
const CHUNKS_AT: usize = LOG_AT + LOG_BYTES;
/// The size of an area, in bytes.
pub const AREA_BYTES: usize = CHUNKS_AT + CHUNKS * CHUNK_BYTES;

const _: () = assert!(size_of::<Header>() <= STRIPES_AT);
const _: () = assert!(size_of::<Chunk>() <= CHUNK_BYTES);
const _: () = assert!(size_of::<ThreadRecord>() == 64, "a thread record is one cache line");
const _: () = assert!(LOG_AT.is_multiple_of(4096) && CHUNKS_AT.is_multiple_of(4096));

/// [`Header::state`]: the recorder records.
pub const STATE_RECORDING: u32 = 1;
/// [`Header::state`]: the process is calling `exec`; if a new image of the same process
/// appears, this one ended by exec.
pub const STATE_EXEC: u32 = 2;
/// [`Header::state`]: the process is exiting, with the reason in [`Header::end_reason`].
pub const STATE_ENDED: u32 = 3;
/// [`Header::state`]: the recorder gave up (its collector stopped answering).
pub const STATE_OFF: u32 = 4;

/// [`Header::end_reason`]: `exit` or a return from `main`.
pub const END_EXIT: u32 = 1;
/// [`Header::end_reason`]: `_exit` or `_Exit`.
pub const END_IMMEDIATE: u32 = 2;

/// [`ThreadRecord::state`]: unused.
pub const THREAD_FREE: u32 = 0;
/// [`ThreadRecord::state`]: a thread records into it.
pub const THREAD_ACTIVE: u32 = 1;
/// [`ThreadRecord::state`]: its thread ended; the collector frees it once it read
/// every event.
pub const THREAD_CLOSED: u32 = 2;
/// [`ThreadRecord::state`]: being set up for a new thread; the collector waits.
pub const THREAD_SETUP: u32 = 3;

/// What a slot holds (its kind word's top byte; 0 is an unpublished slot).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A block was allocated: address, size, stack, sequence number.
    Alloc = 1,
    /// A block is being freed: address, sequence number.
    Free = 2,
    /// `realloc` is about to give up the old block: address, sequence number. The
    /// thread's next [`Kind::ReallocAlloc`] or [`Kind::ReallocFailed`] settles it.
    ReallocFree = 3,
    /// `realloc` returned its new block: as [`Kind::Alloc`].
    ReallocAlloc = 4,
    /// `realloc` failed: the old block (address) is still live.
    ReallocFailed = 5,
    /// The thread saw the clock at this time (nanoseconds since start).
    Tick = 6,
    /// `realloc` returned a new block that sampling left out: the old block is freed.
    ReallocUnsampled = 7,
    /// The thread's next allocation is of this many bytes (`w0`): more than a slot's
    /// size field holds.
    LargeSize = 8,
}

impl Kind {
    /// The kind of a published slot's top byte.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Alloc,
            2 => Kind::Free,
            3 => Kind::ReallocFree,
            4 => Kind::ReallocAlloc,
            5 => Kind::ReallocFailed,
            6 => Kind::Tick,
            7 => Kind::ReallocUnsampled,
            8 => Kind::LargeSize,
            _ => return None,
        })
    }

    /// Whether the event takes part in its address's order (has a sequence number).
    pub fn is_ordered(self) -> bool {
        matches!(self, Kind::Alloc | Kind::Free | Kind::ReallocFree | Kind::ReallocAlloc)
    }
}

/// The area's first page.
#[repr(C)]
pub struct Header {
    /// [`MAGIC`] once the recorder has set the area up.
    pub magic: AtomicU64,
    /// The recorded process.
    pub pid: AtomicU32,
    /// The recorder's [`STATE_RECORDING`], [`STATE_EXEC`], … (written by the recorder).
    pub state: AtomicU32,
    /// `CLOCK_MONOTONIC` nanoseconds at the recorder's start: time zero.
    pub start_ns: AtomicU64,
    /// Wall-clock milliseconds since the Unix epoch at the start.
    pub start_unix_ms: AtomicU64,
    /// The event clock, in nanoseconds since the start (whole microseconds), advanced by
    /// the collector.
    pub clock_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` nanoseconds of the collector's latest pass: a recorder whose
    /// collector stopped answering must not wait for it.
    pub heartbeat_ns: AtomicU64,
    /// Why the process ended, with [`STATE_ENDED`].
    pub end_reason: AtomicU32,
    /// Thread records used so far (an upper bound of the indexes in use).
    pub threads_high: AtomicU32,
    /// When the process ended or exec'd, nanoseconds since the start.
    pub end_ns: AtomicU64,
    /// The process's peak resident set (VmHWM) as it ended, bytes; 0 if unknown.
    pub peak_rss_bytes: AtomicU64,
    /// Events the recorder could not record (no memory, no room, no thread record).
    pub dropped: AtomicU64,
    /// Chunks ever taken from the fresh part of the area.
    pub chunks_high: AtomicU32,
    /// Stacks that could not be captured or interned (counted, recorded without stack).
    pub stackless: AtomicU32,
    /// The free list of recycled chunks: a tag (high half) and index + 1 (low half).
    pub free_chunks: AtomicU64,
    /// Log bytes published by the recorder.
    pub log_head: AtomicU64,
    /// Log bytes the collector consumed.
    pub log_tail: AtomicU64,
    /// Stack captures of threads that ended (for `MEMSCOPE_STATS`).
    pub captures: AtomicU64,
    /// Of those, answered by the per-thread memo without unwinding.
    pub memo_hits: AtomicU64,
    /// The mean bytes between samples (0: every allocation is recorded).
    pub sample_rate: AtomicU64,
    /// Sampled allocations left out because the table of sampled blocks was full.
    pub samples_refused: AtomicU64,
}

/// One thread's place in the area.
#[repr(C, align(64))]
pub struct ThreadRecord {
    /// [`THREAD_FREE`], [`THREAD_SETUP`], [`THREAD_ACTIVE`] or [`THREAD_CLOSED`].
    pub state: AtomicU32,
    /// Counts reuses of the record, so the collector tells its threads apart.
    pub generation: AtomicU32,
    /// The kernel thread id.
    pub tid: AtomicU32,
    /// The thread's first chunk, index + 1 (0: none yet).
    pub first_chunk: AtomicU32,
    /// The recorder's own: the chunk it appends to, index + 1.
    pub current_chunk: AtomicU32,
    /// The recorder's own: how deep in the hooks this thread is (a signal handler can
    /// enter them while the thread is already inside).
    pub depth: AtomicU32,
    /// The recorder's own: the clock value of the thread's latest tick.
    pub last_tick: AtomicU64,
    /// The recorder's own: the thread's unwinding state (a pointer), 0 if none.
    pub unwinder: AtomicU64,
    /// The recorder's own: bytes to allocate before the next sample (when sampling).
    pub sample_countdown: AtomicU64,
    /// The recorder's own: the thread's random number state (when sampling).
    pub random: AtomicU64,
    /// The record of the thread's events made in signal handlers that interrupted it
    /// inside a hook, index + 1 (0: none yet). They go to a chain of their own: in one
    /// chain, an event interrupted between reserving its slot and numbering it would
    /// sit before the handler's event that took the number after it.
    pub nested: AtomicU32,
    /// The recorder's own: nonzero for a thread whose allocations are not recorded (a
    /// collector running in the process it records).
    pub ignored: AtomicU32,
}

/// The head of a chunk.
#[repr(C, align(64))]
pub struct ChunkHeader {
    /// Slots reserved (may run past [`CHUNK_SLOTS`]: the excess reserved nothing).
    pub reserved: AtomicU32,
    /// The owner's next chunk, index + 1 (0: this is the owner's latest).
    pub next: AtomicU32,
    /// The next chunk in the free list, index + 1.
    pub free_next: AtomicU32,
    /// The owning thread record.
    pub owner: AtomicU32,
    /// The owner record's generation.
    pub owner_generation: AtomicU32,
    /// How many times the chunk was recycled. Its slots are published with the low
    /// bits of it, so a recycled chunk needs no clearing: a slot from an earlier use
    /// carries another tag. (Clearing would write every line of the chunk on the
    /// collector's core, for the program's core to fetch back.)
    pub generation: AtomicU32,
}

/// One event. `w1` holds the kind (top byte), the chunk's generation tag (the next 16
/// bits) and the size (low 40 bits) and is written last; `w0` the address (or a tick's
/// time); `w2` the stack id (low half) and the stripe sequence number (high half).
#[repr(C)]
pub struct Slot {
    /// Address, or time.
    pub w0: AtomicU64,
    /// Kind and size.
    pub w1: AtomicU64,
    /// Stack and sequence number.
    pub w2: AtomicU64,
}

/// A chunk: its head and its slots.
#[repr(C)]
pub struct Chunk {
    /// Bookkeeping.
    pub header: ChunkHeader,
    /// Events, in the owner's order.
    pub slots: [Slot; CHUNK_SLOTS],
}

/// A published slot, decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// The address, or a tick's time.
    pub w0: u64,
    /// Bytes allocated.
    pub size: u64,
    /// The interned stack (0: none).
    pub stack: u32,
    /// The stripe sequence number.
    pub seq: u32,
}

/// Sizes a slot holds; a larger one goes in a [`Kind::LargeSize`] slot before it.
pub const SLOT_SIZE_LIMIT: u64 = 1 << 40;
const SIZE_MASK: u64 = SLOT_SIZE_LIMIT - 1;
const TAG_SHIFT: u32 = 40;
const TAG_MASK: u64 = 0xffff << TAG_SHIFT;

/// A reserved slot, and the tag its chunk's current use publishes with.
pub struct Reserved<'a> {
    slot: &'a Slot,
    tag: u64,
}

/// The tag of a chunk's `generation`, placed as in a slot's kind word.
#[inline(always)]
pub fn tag_of(generation: u32) -> u64 {
    (u64::from(generation) << TAG_SHIFT) & TAG_MASK
}

/// The stripe of an address: its page, offset by a hash of its 64 MiB region. glibc
/// gives each thread an arena of its own, in a region of its own, so the pages one
/// thread uses at a time fall in consecutive stripes that another thread's rarely
/// share. (A hash of the page alone spread every thread over every stripe, so the
/// collector kept stopping one thread's events to wait for another's: BENCHMARKS.md.)
#[inline(always)]
pub fn stripe_of(address: u64) -> usize {
    let offset = ((address >> 26).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize;
    ((address >> 12) as usize).wrapping_add(offset) % STRIPES
}

/// `cell += n`, returning the old value, in one unlocked instruction: atomic against
/// interruption on this thread (a signal handler), not against other cores, which is
/// all a counter only this thread writes needs.
#[inline(always)]
pub(crate) fn local_fetch_add(cell: &AtomicU32, n: u32) -> u32 {
    let mut value = n;
    // SAFETY: `cell` is a valid, aligned u32; xadd reads and writes only it.
    unsafe {
        core::arch::asm!(
            "xadd dword ptr [{cell}], {value:e}",
            cell = in(reg) cell.as_ptr(),
            value = inout(reg) value,
            options(nostack),
        );
    }
    value
}

/// A view of an area in memory.
#[derive(Copy, Clone)]
pub struct Area {
    base: *mut u8,
}

// SAFETY: every field of the area is an atomic; the view is a pointer to them.
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl Area {
    /// A view of the area at `base`.
    ///
    /// # Safety
    /// `base` points to [`AREA_BYTES`] bytes, aligned to a page, that stay mapped while
    /// the view is used, and were zero when first used as an area.
    pub unsafe fn from_raw(base: *mut u8) -> Area {
        Area { base }
    }

    /// Where the area starts.
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    #[inline(always)]
    fn at<T>(&self, offset: usize) -> &T {
        // SAFETY: offsets come from the layout constants, inside the area and aligned
        // for T; every T here is made of atomics, valid at any bit pattern the two
        // sides write.
        unsafe { &*(self.base.add(offset) as *const T) }
    }

    /// The header.
    #[inline(always)]
    pub fn header(&self) -> &Header {
        self.at(0)
    }

    /// Thread record `index` (below [`MAX_THREADS`]).
    #[inline]
    pub fn thread(&self, index: usize) -> &ThreadRecord {
        assert!(index < MAX_THREADS);
        self.at(THREADS_AT + index * size_of::<ThreadRecord>())
    }

    /// Chunk `index` (below [`CHUNKS`]).
    #[inline(always)]
    pub fn chunk(&self, index: usize) -> &Chunk {
        assert!(index < CHUNKS);
        self.at(CHUNKS_AT + index * CHUNK_BYTES)
    }

    #[inline(always)]
    fn stripe(&self, address: u64) -> &AtomicU32 {
        self.at(STRIPES_AT + stripe_of(address) * STRIPE_STRIDE)
    }

    /// Sets a new area up and marks it ready.
    pub fn initialise(&self, pid: u32, start_ns: u64, start_unix_ms: u64) {
        let header = self.header();
        header.pid.store(pid, Ordering::Relaxed);
        header.start_ns.store(start_ns, Ordering::Relaxed);
        header.start_unix_ms.store(start_unix_ms, Ordering::Relaxed);
        header.state.store(STATE_RECORDING, Ordering::Relaxed);
        header.magic.store(MAGIC, Ordering::Release);
    }

    /// Whether the recorder has set the area up.
    pub fn is_ready(&self) -> bool {
        self.header().magic.load(Ordering::Acquire) == MAGIC
    }

    /// The next sequence number of `address`'s stripe. With one thread in the process
    /// an unlocked add is enough; with more, it is a locked one.
    #[inline(always)]
    pub fn next_seq(&self, address: u64, threaded: bool) -> u32 {
        let counter = self.stripe(address);
        if threaded {
            counter.fetch_add(1, Ordering::Relaxed)
        } else {
            local_fetch_add(counter, 1)
        }
    }

    /// Publishes an event into a reserved slot.
    #[inline(always)]
    pub fn publish(reserved: Reserved, kind: Kind, w0: u64, size: u64, stack: u32, seq: u32) {
        let slot = reserved.slot;
        slot.w0.store(w0, Ordering::Relaxed);
        slot.w2.store(u64::from(stack) | (u64::from(seq) << 32), Ordering::Relaxed);
        slot.w1.store(((kind as u64) << 56) | reserved.tag | (size & SIZE_MASK), Ordering::Release);
    }

    /// The event in `slot`, if it was published: `Err` with the kind byte if that byte
    /// names no kind (only a damaged area holds one).
    #[inline]
    pub fn read(slot: &Slot, tag: u64) -> Option<Result<Event, u8>> {
        let w1 = slot.w1.load(Ordering::Acquire);
        if w1 == 0 || w1 & TAG_MASK != tag {
            return None;
        }
        let byte = (w1 >> 56) as u8;
        let Some(kind) = Kind::from_byte(byte) else { return Some(Err(byte)) };
        let w2 = slot.w2.load(Ordering::Relaxed);
        let w0 = slot.w0.load(Ordering::Relaxed);
        Some(Ok(Event { kind, w0, size: w1 & SIZE_MASK, stack: w2 as u32, seq: (w2 >> 32) as u32 }))
    }

    /// Reserves the calling thread's next slot in `record`'s chain, taking a new chunk
    /// when the current one is full; `None` if no chunk is free.
    #[inline]
    pub fn reserve(&self, record: &ThreadRecord, owner: u32) -> Option<Reserved<'_>> {
        loop {
            let current = record.current_chunk.load(Ordering::Relaxed);
            if current == 0 {
                self.start_chain(record, owner)?;
                continue;
            }
            let chunk = self.chunk(current as usize - 1);
            let index = local_fetch_add(&chunk.header.reserved, 1) as usize;
            if index < CHUNK_SLOTS {
                let tag = tag_of(chunk.header.generation.load(Ordering::Relaxed));
                return Some(Reserved { slot: &chunk.slots[index], tag });
            }
            self.extend_chain(record, current, owner)?;
        }
    }

    // The current chunk only ever moves forward, by compare-and-swap from the value the
    // mover saw: a signal handler on this thread may have moved it further meanwhile,
    // and a chunk left behind may already be another thread's.
    #[cold]
    fn start_chain(&self, record: &ThreadRecord, owner: u32) -> Option<()> {
        let fresh = self.take_chunk(record, owner)?;
        let first = match record.first_chunk.compare_exchange(
            0,
            fresh + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh + 1,
            Err(first) => {
                self.give_back(fresh);
                first
            }
        };
        let _ =
            record.current_chunk.compare_exchange(0, first, Ordering::AcqRel, Ordering::Relaxed);
        Some(())
    }

    #[cold]
    fn extend_chain(&self, record: &ThreadRecord, current: u32, owner: u32) -> Option<()> {
        let full = &self.chunk(current as usize - 1).header;
        if full.next.load(Ordering::Acquire) == 0 {
            let fresh = self.take_chunk(record, owner)?;
            if full
                .next
                .compare_exchange(0, fresh + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                self.give_back(fresh);
            }
        }
        let next = full.next.load(Ordering::Acquire);
        let _ = record.current_chunk.compare_exchange(
            current,
            next,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        Some(())
    }

    /// A zeroed chunk for `record`: a recycled one, or one never used.
    fn take_chunk(&self, record: &ThreadRecord, owner: u32) -> Option<u32> {
        let index = self.pop_free().or_else(|| self.fresh_chunk())?;
        let header = &self.chunk(index as usize).header;
        header.reserved.store(0, Ordering::Relaxed);
        header.next.store(0, Ordering::Relaxed);
        header.owner.store(owner, Ordering::Relaxed);
        header.owner_generation.store(record.generation.load(Ordering::Relaxed), Ordering::Relaxed);
        Some(index)
    }

    fn fresh_chunk(&self) -> Option<u32> {
        let high = &self.header().chunks_high;
        let mut index = high.load(Ordering::Relaxed);
        while (index as usize) < CHUNKS {
            match high.compare_exchange_weak(index, index + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(index),
                Err(now) => index = now,
            }
        }
        None
    }

    fn pop_free(&self) -> Option<u32> {
        let head = &self.header().free_chunks;
        let mut top = head.load(Ordering::Acquire);
        loop {
            let index = (top as u32).checked_sub(1)?;
            let next = self.chunk(index as usize).header.free_next.load(Ordering::Relaxed);
            let tagged = ((top >> 32).wrapping_add(1) << 32) | u64::from(next);
            match head.compare_exchange_weak(top, tagged, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(index),
                Err(now) => top = now,
            }
        }
    }

    /// Puts a zeroed chunk on the free list.
    pub fn give_back(&self, index: u32) {
        let head = &self.header().free_chunks;
        let chunk = &self.chunk(index as usize).header;
        let mut top = head.load(Ordering::Acquire);
        loop {
            chunk.free_next.store(top as u32, Ordering::Relaxed);
            let tagged = ((top >> 32).wrapping_add(1) << 32) | u64::from(index + 1);
            match head.compare_exchange_weak(top, tagged, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }

    /// Collector side: a chunk it has read goes back on the free list, under a new
    /// generation (its slots then read as unpublished).
    pub fn recycle(&self, index: u32) {
        self.chunk(index as usize).header.generation.fetch_add(1, Ordering::AcqRel);
        self.give_back(index);
    }

    /// Free space in the log for `len` more bytes.
    fn log_room(&self, len: usize) -> bool {
        let header = self.header();
        let used =
            header.log_head.load(Ordering::Relaxed) - header.log_tail.load(Ordering::Acquire);
        used as usize + len <= LOG_BYTES
    }

    fn log_bytes(&self) -> *mut u8 {
        // SAFETY: the log lies inside the area.
        unsafe { self.base.add(LOG_AT) }
    }

    /// Recorder side: appends one record (`kind`, then the parts) to the log, if there is
    /// room. Callers serialise their appends.
    pub fn log_append(&self, kind: u8, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let total = 5 + len;
        if total > LOG_BYTES || !self.log_room(total) {
            return false;
        }
        let header = self.header();
        let head = header.log_head.load(Ordering::Relaxed);
        let mut at = head;
        let record_head = [&(len as u32).to_le_bytes()[..], &[kind]];
        for part in record_head.iter().chain(parts) {
            self.log_copy_in(at, part);
            at += part.len() as u64;
        }
        header.log_head.store(at, Ordering::Release);
        true
    }

    fn log_copy_in(&self, at: u64, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            let position = (at as usize + i) % LOG_BYTES;
            // SAFETY: position is inside the log; only the recorder writes it, the
            // collector reads these bytes only after the head store below publishes them.
            unsafe { self.log_bytes().add(position).write_volatile(byte) };
        }
    }

    /// Collector side: the log bytes published but not consumed, appended to `out`.
    /// Returns the head they run to; [`Area::log_consumed`] hands that back.
    pub fn log_read(&self, out: &mut alloc::vec::Vec<u8>) -> u64 {
        let header = self.header();
        let head = header.log_head.load(Ordering::Acquire);
        let tail = header.log_tail.load(Ordering::Relaxed);
        let pending = head.saturating_sub(tail).min(LOG_BYTES as u64);
        out.reserve(pending as usize);
        for at in tail..tail + pending {
            // SAFETY: inside the log; published by the head store loaded above.
            out.push(unsafe { self.log_bytes().add(at as usize % LOG_BYTES).read_volatile() });
        }
        tail + pending
    }

    /// Collector side: the log up to `head` has been read.
    pub fn log_consumed(&self, head: u64) {
        self.header().log_tail.store(head, Ordering::Release);
    }
}
