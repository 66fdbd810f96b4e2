//! Pairing a thread's frees with its allocations, and who does it.
//!
//! Normally each thread pairs its own frees as they happen (see `live_table`). A
//! process with one thread is *solo*: its thread hands the addresses to the writer,
//! which pairs them on its own core, in order, against the same table. With a large
//! heap each pairing misses the cache, and a single-threaded program should not wait
//! for that while a core sits idle. When a second thread is about to start, the solo
//! thread waits until the writer has paired everything it sent and takes its table
//! back; from then on every thread pairs for itself.

use std::sync::{Arc, Mutex, MutexGuard};

use memscope_format::EventKind;

use crate::live_table::{self, Block, Claimed, LiveTable};

/// A thread's live table and its latest allocation (whose immediate free makes it
/// temporary).
pub(crate) struct Pairing {
    pub table: Arc<LiveTable>,
    last_alloc: u64,
    /// The thread table where this thread's latest claim found its block: a thread
    /// that frees other threads' blocks mostly frees those of one other thread, and
    /// asking that table alone takes no lock shared by all threads.
    claimed_from: Option<Arc<LiveTable>>,
}

impl Pairing {
    pub(crate) fn new(table: Arc<LiveTable>) -> Pairing {
        Pairing { table, last_alloc: 0, claimed_from: None }
    }

    #[inline]
    pub(crate) fn alloc(&mut self, ptr: u64, block: Block) {
        self.table.insert(ptr, block);
        self.last_alloc = ptr;
    }

    /// Takes the block at `ptr` out of the live tables, with the kind of free that ends
    /// it; `None` for memory no table held. `claim` searches the other tables.
    #[inline]
    pub(crate) fn free(&mut self, ptr: u64, claim: Claim) -> Option<(Block, EventKind)> {
        let Some(block) = self.table.remove(ptr) else {
            return self.claim(ptr, claim).map(|block| (block, EventKind::Free));
        };
        if ptr == self.last_alloc {
            self.last_alloc = 0;
            return Some((block, EventKind::FreeTemporary));
        }
        Some((block, EventKind::Free))
    }

    /// Another thread's block: from the table of the latest claim if it is there.
    fn claim(&mut self, ptr: u64, claim: Claim) -> Option<Block> {
        if let Some(block) = self.claimed_from.as_ref().and_then(|from| from.claim(ptr)) {
            return Some(block);
        }
        let Some((block, from)) = claim(ptr, Some(&self.table)) else {
            live_table::count_untracked();
            return None;
        };
        if from.is_some() {
            self.claimed_from = from;
        }
        Some(block)
    }
}

/// How a free that is not in its thread's table finds its block.
pub(crate) type Claim = fn(u64, Option<&LiveTable>) -> Option<Claimed>;

/// The program threads' [`Claim`]: when a solo thread's pairing is still with the
/// writer, the block may be in a batch the writer has not paired yet, so a miss waits
/// for the writer once and looks again.
pub(crate) fn claim_waiting(ptr: u64, own: Option<&LiveTable>) -> Option<Claimed> {
    let claimed = live_table::claim_elsewhere(ptr, own);
    if claimed.is_some() || !lent() {
        return claimed;
    }
    crate::writer::sync();
    live_table::claim_elsewhere(ptr, own)
}

/// The solo thread's pairing while the writer holds it.
static SOLO: Mutex<Option<Pairing>> = Mutex::new(None);

fn solo() -> MutexGuard<'static, Option<Pairing>> {
    SOLO.lock().unwrap_or_else(|e| e.into_inner())
}

/// The solo thread hands its pairing to the writer.
pub(crate) fn lend_to_writer(pairing: Pairing) {
    *solo() = Some(pairing);
}

/// The solo thread takes its pairing back (once the writer paired all it was sent).
pub(crate) fn take_back() -> Option<Pairing> {
    solo().take()
}

/// Whether a solo thread's pairing is still with the writer: its latest allocations
/// may not be in its table yet.
pub(crate) fn lent() -> bool {
    solo().is_some()
}

/// Writer side: the solo thread's pairing, if the writer holds it, locked.
pub(crate) fn lent_pairing() -> MutexGuard<'static, Option<Pairing>> {
    solo()
}

#[cfg(test)]
mod tests {
    use memscope_format::StackId;

    use super::*;

    #[test]
    fn a_claim_from_a_thread_that_ended_finds_its_block_in_the_shared_table() {
        let block = |size| Block { size, stack: StackId(7) };
        let mut freer = Pairing::new(live_table::register());
        let owner = live_table::register();
        owner.insert(0x51000, block(10));
        owner.insert(0x52000, block(20));
        let claim = live_table::claim_elsewhere;
        assert_eq!(freer.free(0x51000, claim), Some((block(10), EventKind::Free)));
        // The owner ends after the freer's claim pointed it at the owner's table.
        live_table::retire(&owner);
        assert_eq!(freer.free(0x52000, claim), Some((block(20), EventKind::Free)));
        assert_eq!(freer.free(0x52000, claim), None);
        live_table::retire(&freer.table);
    }
}
