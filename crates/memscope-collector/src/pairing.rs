//! Pairing frees with allocations, in the order the program made them.
//!
//! Each thread's events come in that thread's order, but the threads' streams are read
//! side by side. An event of an address takes part in its address stripe's order (see
//! `memscope_agent::area`): the pairing applies an event only when it is the next of its
//! stripe, so a free always meets the allocation it ends, even when glibc handed the
//! address to another thread at once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use memscope_agent::area::{stripe_of, STRIPES};

/// What a free needs of its allocation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub size: u64,
    pub stack: u32,
}

/// Addresses are 16-byte aligned and clustered: mix them before they index a table.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.rotate_right(4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The live blocks and where each stripe's order stands.
pub(crate) struct Pairing {
    live: HashMap<u64, Block, BuildHasherDefault<AddressHasher>>,
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
            live: HashMap::default(),
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
        if self.live.insert(address, block).is_some() {
            self.missed_frees += 1;
        }
    }

    pub(crate) fn free(&mut self, address: u64) -> Option<Block> {
        let block = self.live.remove(&address);
        self.untracked_frees += u64::from(block.is_none());
        block
    }

    /// Puts back a block that a failed `realloc` kept.
    pub(crate) fn restore(&mut self, address: u64, block: Block) {
        self.live.insert(address, block);
    }
}
