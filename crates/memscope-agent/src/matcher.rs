//! Pairs frees with their allocations on the writer thread, so the program's threads
//! never share a live table.
//!
//! The writer sees each thread's events in order, but threads' batches in any order.
//! Pairing is still exact because every free is timestamped before the block goes back
//! to glibc and every allocation after glibc hands it out: of all allocations of the
//! same address, a free belongs to the latest one that is not later than itself. A free
//! whose allocation has not been seen yet (another thread's batch still to come) waits.
//!
//! A free takes another thread's block only once that thread's events have been read
//! past the free: until then, the block's own free may still be in an unread batch.
//! That matters for frees of memory the recorder never saw allocated (glibc frees a
//! thread's internal tcache block through `free` at thread exit): such a free must not
//! take a block of the same address that its owner freed a moment before.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use memscope_format::{Event, EventKind, StackId, ThreadId};

use crate::buffer::{RawEvent, RawKind};
use crate::live_blocks::LiveBlocks;
use crate::stacks::IdentityHasher;

/// One allocation of an address.
#[derive(Copy, Clone, Debug)]
struct Block {
    ticks: u64,
    size: u64,
    stack: StackId,
    /// The allocating thread buffer (truncated; only compared for equality).
    owner: u32,
}

#[derive(Copy, Clone, Debug)]
struct WaitingFree {
    ticks: u64,
    thread: ThreadId,
    owner: u32,
    /// The writer pass in which it arrived, to give up on frees of addresses the
    /// agent never saw allocated.
    pass: u64,
}

/// Per thread: its latest allocation (pointer, ticks), for spotting temporaries.
#[derive(Default)]
struct Cursor {
    owner: u32,
    last_alloc: Option<(u64, u64)>,
    last_ticks: u64,
}

type PtrMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Passes after which a free still without its allocation is dropped: by then every
/// thread's events up to it have been swept.
const WAIT_PASSES: u64 = 3;

#[derive(Default)]
pub(crate) struct Matcher {
    live: LiveBlocks<Block>,
    /// Older allocations of an address that is live again, whose frees are still to
    /// come (rare: only across threads).
    shadowed: PtrMap<Vec<Block>>,
    waiting: PtrMap<Vec<WaitingFree>>,
    threads: HashMap<u64, Cursor>,
    pass: u64,
    /// Every thread's events older than this (ticks) have been read: what was
    /// published before the sweep before last. A sweep reads everything published
    /// when it starts; a whole sweep interval more covers events whose thread took
    /// their time but was preempted before publishing them.
    settled: u64,
    /// When the last sweep started.
    last_sweep: u64,
    /// Frees whose allocation was never seen.
    pub(crate) unmatched: u64,
}

/// The key under which a pointer is kept: pointers are 16-byte aligned and clustered,
/// so rotate the zero bits away and multiply by an odd constant (still one-to-one).
fn key(ptr: u64) -> u64 {
    ptr.rotate_right(4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Matcher {
    /// Turns one thread's raw events into trace events, appended to `out`; frees
    /// completed by these allocations for other threads go to `late`. `owner` names
    /// the thread's buffer: thread ids are reused, and a reused id's events can be
    /// written before the old thread's last ones.
    pub(crate) fn pair(
        &mut self,
        owner: u64,
        thread: ThreadId,
        raw: &[RawEvent],
        out: &mut Vec<Event>,
        late: &mut Vec<(ThreadId, Event)>,
    ) {
        let mut cursor = self
            .threads
            .remove(&owner)
            .unwrap_or(Cursor { owner: owner as u32, ..Cursor::default() });
        for event in raw {
            // A thread's events happened in the order it made them, but the thread may
            // have moved to a CPU whose clock runs slightly behind: keep its times in
            // order, or its free could look older than its own allocation.
            let event = &RawEvent { ticks: event.ticks.max(cursor.last_ticks), ..*event };
            cursor.last_ticks = event.ticks;
            match event.kind {
                RawKind::Alloc => self.alloc(&mut cursor, event, out, late),
                RawKind::Free => {
                    if let Some(freed) = self.free(&mut cursor, thread, event.ptr, event.ticks) {
                        out.push(freed);
                    }
                }
            }
        }
        self.threads.insert(owner, cursor);
    }

    fn alloc(
        &mut self,
        cursor: &mut Cursor,
        event: &RawEvent,
        out: &mut Vec<Event>,
        late: &mut Vec<(ThreadId, Event)>,
    ) {
        let block =
            Block { ticks: event.ticks, size: event.size, stack: event.stack, owner: cursor.owner };
        let k = key(event.ptr);
        if let Some(previous) = self.live.insert(k, block) {
            self.shadowed.entry(k).or_default().push(previous);
        }
        cursor.last_alloc = Some((event.ptr, event.ticks));
        out.push(Event {
            time_ns: event.ticks,
            size: event.size,
            stack: event.stack,
            kind: EventKind::Alloc,
        });
        if !self.waiting.is_empty() {
            self.retry_waiting(k, late);
        }
    }

    /// Frees that arrived before this allocation and belong to it.
    fn retry_waiting(&mut self, k: u64, late: &mut Vec<(ThreadId, Event)>) {
        let Some(mut waiting) = self.waiting.remove(&k) else { return };
        waiting.sort_by_key(|w| w.ticks);
        let mut still = Vec::new();
        for free in waiting {
            match self.take_block(k, free.ticks, free.owner) {
                Some(block) => late.push((free.thread, freed(block, free.ticks, EventKind::Free))),
                None => still.push(free),
            }
        }
        if !still.is_empty() {
            self.waiting.insert(k, still);
        }
    }

    fn free(
        &mut self,
        cursor: &mut Cursor,
        thread: ThreadId,
        ptr: u64,
        ticks: u64,
    ) -> Option<Event> {
        let k = key(ptr);
        let Some(block) = self.take_block(k, ticks, cursor.owner) else {
            self.waiting.entry(k).or_default().push(WaitingFree {
                ticks,
                thread,
                owner: cursor.owner,
                pass: self.pass,
            });
            return None;
        };
        let temporary = cursor.last_alloc == Some((ptr, block.ticks));
        if temporary {
            cursor.last_alloc = None;
        }
        let kind = if temporary { EventKind::FreeTemporary } else { EventKind::Free };
        Some(freed(block, ticks, kind))
    }

    /// The latest allocation of the address made no later than `ticks`, preferring one
    /// made by the freeing thread: when several allocations of an address still wait for
    /// their frees, clocks of different CPUs can disagree by more than the gap between
    /// them, but a thread frees what it allocated far more often than not.
    fn take_block(&mut self, k: u64, ticks: u64, owner: u32) -> Option<Block> {
        if self.shadowed.is_empty() {
            // The common case: one allocation of the address is known, one lookup.
            let block = self.live.remove(k)?;
            if block.ticks <= ticks && self.may_take(&block, ticks, owner) {
                return Some(block);
            }
            self.live.insert(k, block);
            return None;
        }
        let rank = |b: &Block| (b.owner == owner, b.ticks);
        let fits = |b: &&Block| b.ticks <= ticks && self.may_take(b, ticks, owner);
        let live = self.live.get(k).filter(fits).map(rank);
        let older = self.shadowed.get(&k).and_then(|blocks| {
            blocks.iter().enumerate().filter(|(_, b)| fits(b)).max_by_key(|(_, b)| rank(b))
        });
        match (live, older.map(|(i, b)| (i, rank(b)))) {
            (Some(l), Some((_, o))) if l >= o => self.live.remove(k),
            (_, Some((i, _))) => {
                let blocks = self.shadowed.get_mut(&k)?;
                let block = blocks.swap_remove(i);
                if blocks.is_empty() {
                    self.shadowed.remove(&k);
                }
                Some(block)
            }
            (Some(_), None) => self.live.remove(k),
            (None, None) => None,
        }
    }

    /// The recording ends and every event was read: frees still waiting for another
    /// thread's events take their blocks now.
    pub(crate) fn finish(&mut self, late: &mut Vec<(ThreadId, Event)>) {
        self.settled = u64::MAX;
        self.retry_all_waiting(late);
    }

    fn retry_all_waiting(&mut self, late: &mut Vec<(ThreadId, Event)>) {
        let addresses: Vec<u64> = self.waiting.keys().copied().collect();
        for k in addresses {
            self.retry_waiting(k, late);
        }
    }

    /// Whether a free at `ticks` by `owner` may take `block`: its own block always;
    /// another thread's once that thread's events are read up to the free.
    fn may_take(&self, block: &Block, ticks: u64, owner: u32) -> bool {
        if block.owner == owner {
            return true;
        }
        let read = self.threads.get(&u64::from(block.owner)).map_or(0, |c| c.last_ticks);
        read.max(self.settled) >= ticks
    }

    /// Ends a writer pass (a sweep that started at `sweep_ticks` read everything
    /// published before it): frees waiting for their owners' events are tried again,
    /// and those matched go to `late`; frees that waited too long had no tracked
    /// allocation.
    pub(crate) fn end_pass(&mut self, sweep_ticks: u64, late: &mut Vec<(ThreadId, Event)>) {
        self.settled = self.last_sweep;
        self.last_sweep = sweep_ticks;
        self.retry_all_waiting(late);
        self.pass += 1;
        let pass = self.pass;
        let mut dropped = 0;
        self.waiting.retain(|_, frees| {
            let before = frees.len();
            frees.retain(|f| pass - f.pass <= WAIT_PASSES);
            dropped += (before - frees.len()) as u64;
            !frees.is_empty()
        });
        self.unmatched += dropped;
    }
}

fn freed(block: Block, ticks: u64, kind: EventKind) -> Event {
    Event { time_ns: ticks, size: block.size, stack: block.stack, kind }
}
