//! Pairing frees with allocations, in the order the program made them.
//!
//! Each thread's events come in that thread's order, but the threads' streams are read
//! side by side. An event of an address takes part in its address stripe's order (see
//! `memscope_agent::area`): the pairing applies an event only when it is the next of its
//! stripe, so a free always meets the allocation it ends, even when glibc handed the
//! address to another thread at once.

use memscope_agent::area::{stripe_of, STRIPES};

use crate::live_blocks::{Block, LiveBlocks};

/// The live blocks and where each stripe's order stands.
pub(crate) struct Pairing {
    live: LiveBlocks,
    expected: Vec<u32>,
    /// Frees of memory never seen allocated (allocated before the recorder started, or
    /// its allocation was dropped).
    pub untracked_frees: u64,
    /// Allocations at an address already live: a free was missed (dropped).
    pub missed_frees: u64,
}

impl Pairing {
    pub(crate) fn new() -> Pairing {
        Pairing {
            live: LiveBlocks::new(),
            expected: vec![0; STRIPES],
            untracked_frees: 0,
            missed_frees: 0,
        }
    }

    /// Whether an event of `address` numbered `seq` is next in its stripe.
    pub(crate) fn is_next(&self, address: u64, seq: u32) -> bool {
        self.expected[stripe_of(address)] == seq
    }

    /// How many events of the stripe come before `seq` (wrapping).
    pub(crate) fn distance(&self, address: u64, seq: u32) -> u32 {
        seq.wrapping_sub(self.expected[stripe_of(address)])
    }

    /// Counts the event numbered `seq` as applied.
    pub(crate) fn take_turn(&mut self, address: u64, seq: u32) {
        self.expected[stripe_of(address)] = seq.wrapping_add(1);
    }

    /// Skips to `seq`: the events before it will never come (their process is gone).
    pub(crate) fn skip_to(&mut self, address: u64, seq: u32) {
        self.expected[stripe_of(address)] = seq;
    }

    pub(crate) fn alloc(&mut self, address: u64, block: Block) {
        if self.live.insert(address, block) {
            self.missed_frees += 1;
        }
    }

    /// Starts loading what a free or an allocation of `address`, a few events on, will
    /// look up.
    pub(crate) fn prefetch(&self, address: u64) {
        self.live.prefetch(address);
    }

    pub(crate) fn free(&mut self, address: u64) -> Option<Block> {
        let block = self.live.remove(address);
        self.untracked_frees += u64::from(block.is_none());
        block
    }

    /// Puts back a block that a failed `realloc` kept.
    pub(crate) fn restore(&mut self, address: u64, block: Block) {
        self.live.insert(address, block);
    }
}
