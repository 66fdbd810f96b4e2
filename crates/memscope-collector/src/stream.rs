//! One thread's events, read from its chain of chunks in the capture area, and what
//! pairing needs to know about that thread.

use memscope_agent::area::{self, tag_of, Area, Slot, CHUNK_SLOTS};
use memscope_format::Event;

/// What the next slot of a stream holds.
pub(crate) enum Next {
    /// A published event.
    Event(area::Event),
    /// Nothing yet (or, for a stream that ended, nothing more).
    Nothing,
    /// A slot whose kind byte names no kind: the area is damaged here.
    Damaged,
}

/// How much of a stream to read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Only chunks the thread has moved past: reading the slots a thread is still
    /// writing would pull their cache lines back and forth between its core and ours.
    Full,
    /// Every published slot.
    Published,
    /// Everything, skipping slots reserved but never published: the thread can publish
    /// nothing more.
    Ended,
}

/// A block being freed by `realloc`, until the call's outcome is known.
pub(crate) type PendingRealloc = (u64, Option<crate::live_blocks::Block>);

/// A reader of one thread record's chain.
pub(crate) struct Stream {
    /// The thread record.
    pub record: usize,
    /// The kernel thread id.
    pub tid: u32,
    /// The chunk being read (index), once the thread has one.
    chunk: Option<u32>,
    /// The next slot to read in it.
    slot: usize,
    /// The tag the chunk's current use publishes with.
    tag: u64,
    /// Slots known to be reserved in the chunk: a slot past them that reads as
    /// published is a leftover of an earlier use of the chunk.
    known_reserved: usize,
    /// The size of the next allocation, when it was too large for its slot.
    pub large_size: Option<u64>,
    /// The thread's clock: the latest tick, nanoseconds since start.
    pub time_ns: u64,
    /// The thread's latest allocation (a free of it is temporary).
    pub last_alloc: u64,
    /// The old block of a `realloc` under way.
    pub pending_realloc: Option<PendingRealloc>,
    /// Paired events not yet written, oldest first.
    pub batch: Vec<Event>,
    /// Reserved slots never published (their thread was gone), skipped.
    pub lost: u64,
}

impl Stream {
    pub(crate) fn new(record: usize, tid: u32) -> Stream {
        Stream {
            record,
            tid,
            chunk: None,
            slot: 0,
            tag: 0,
            known_reserved: 0,
            large_size: None,
            time_ns: 0,
            last_alloc: 0,
            pending_realloc: None,
            batch: Vec::new(),
            lost: 0,
        }
    }

    /// The next event, as far as `reading` allows. A slot reserved but never published
    /// is skipped (and counted lost) only when the stream has ended.
    pub(crate) fn peek(&mut self, area: &Area, reading: Reading) -> Next {
        let ended = reading == Reading::Ended;
        loop {
            let Some(index) = self.chunk.or_else(|| self.first_chunk(area)) else {
                return Next::Nothing;
            };
            let chunk = area.chunk(index as usize);
            if self.chunk != Some(index) {
                self.enter_chunk(index, chunk);
            }
            let moved_on = chunk.header.next.load(std::sync::atomic::Ordering::Acquire) != 0;
            if reading == Reading::Full && !moved_on {
                return Next::Nothing;
            }
            if self.slot < CHUNK_SLOTS {
                match Area::read(&chunk.slots[self.slot], self.tag) {
                    Some(Ok(event)) if self.is_reserved(area, index) => return Next::Event(event),
                    Some(Ok(_)) => return Next::Nothing,
                    Some(Err(_)) => return Next::Damaged,
                    None if ended && self.slot < reserved(area, index) => {
                        self.lost += 1;
                        self.slot += 1;
                        continue;
                    }
                    None if !ended || self.slot < reserved(area, index) => return Next::Nothing,
                    None => {}
                }
            }
            let next = chunk.header.next.load(std::sync::atomic::Ordering::Acquire);
            if next == 0 || (self.slot < CHUNK_SLOTS && !ended) {
                return Next::Nothing;
            }
            area.recycle(index);
            self.chunk = None;
            self.slot = 0;
            let next_chunk = area.chunk(next as usize - 1);
            self.enter_chunk(next - 1, next_chunk);
        }
    }

    fn enter_chunk(&mut self, index: u32, chunk: &memscope_agent::area::Chunk) {
        self.chunk = Some(index);
        self.tag = tag_of(chunk.header.generation.load(std::sync::atomic::Ordering::Acquire));
        self.known_reserved = 0;
    }

    /// Whether the slot being read was reserved in the chunk's current use (loaded
    /// afresh only past what was known: the count is on a line the thread writes).
    fn is_reserved(&mut self, area: &Area, index: u32) -> bool {
        if self.slot < self.known_reserved {
            return true;
        }
        self.known_reserved = reserved(area, index);
        self.slot < self.known_reserved
    }

    /// The slot `ahead` places past the next one, if it is in the chunk being read: for
    /// prefetching, whatever it holds (it may not be published yet, or not be an event
    /// of an address).
    pub(crate) fn slot_ahead<'a>(&self, area: &'a Area, ahead: usize) -> Option<&'a Slot> {
        area.chunk(self.chunk? as usize).slots.get(self.slot + ahead)
    }

    /// Moves past the event [`Stream::peek`] returned.
    pub(crate) fn advance(&mut self) {
        self.slot += 1;
    }

    fn first_chunk(&self, area: &Area) -> Option<u32> {
        let first = area.thread(self.record).first_chunk.load(std::sync::atomic::Ordering::Acquire);
        first.checked_sub(1)
    }

    /// Gives back the chunk of a stream that ended and was read to the end.
    pub(crate) fn release(&mut self, area: &Area) {
        if let Some(index) = self.chunk.take() {
            area.recycle(index);
        }
    }
}

/// Slots reserved in a chunk (at most all of them).
fn reserved(area: &Area, index: u32) -> usize {
    let header = &area.chunk(index as usize).header;
    (header.reserved.load(std::sync::atomic::Ordering::Acquire) as usize).min(CHUNK_SLOTS)
}
