//! One thread's events, read from its chain of chunks in the capture area, and what
//! pairing needs to know about that thread.

use memscope_agent::area::{self, Area, CHUNK_SLOTS};
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

/// A block being freed by `realloc`, until the call's outcome is known.
pub(crate) type PendingRealloc = (u64, Option<crate::pairing::Block>);

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
            time_ns: 0,
            last_alloc: 0,
            pending_realloc: None,
            batch: Vec::new(),
            lost: 0,
        }
    }

    /// The next event. `ended` says the thread can publish nothing more: a slot it
    /// reserved but never published is then skipped (and counted lost).
    pub(crate) fn peek(&mut self, area: &Area, ended: bool) -> Next {
        loop {
            let Some(index) = self.chunk.or_else(|| self.first_chunk(area)) else {
                return Next::Nothing;
            };
            self.chunk = Some(index);
            let chunk = area.chunk(index as usize);
            if self.slot < CHUNK_SLOTS {
                match Area::read(&chunk.slots[self.slot]) {
                    Some(Ok(event)) => return Next::Event(event),
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
            area.recycle(index, CHUNK_SLOTS);
            self.chunk = Some(next - 1);
            self.slot = 0;
        }
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
            area.recycle(index, reserved(area, index));
        }
    }
}

/// Slots reserved in a chunk (at most all of them).
fn reserved(area: &Area, index: u32) -> usize {
    let header = &area.chunk(index as usize).header;
    (header.reserved.load(std::sync::atomic::Ordering::Acquire) as usize).min(CHUNK_SLOTS)
}
