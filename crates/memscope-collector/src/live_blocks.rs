//! The live blocks by address: the table every free is looked up in.
//!
//! A program with millions of live blocks makes this table far larger than the caches,
//! so each lookup is a trip to memory: with a general hash map that trip was a third of
//! all the CPU a recording of such a program took. This table can be asked where an
//! address would be ([`LiveBlocks::prefetch`]) while the events before it are applied,
//! so that the trip overlaps other work. It is open addressing with linear probing
//! and backward-shift removal (no tombstones), 16-byte entries, at most 70% full,
//! in memory mapped with huge pages where the kernel allows: with 4 KiB pages each
//! lookup in a table of tens of megabytes would also miss the TLB, and a prefetch that
//! misses it waits for the page walk.

use std::collections::HashMap;
use std::ptr::NonNull;

/// What a free needs of its allocation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub size: u64,
    pub stack: u32,
}

/// One slot: address 0 marks it empty (no allocation returns address 0).
#[derive(Copy, Clone, Default)]
#[repr(C, align(16))]
struct Entry {
    address: u64,
    /// The size, or [`LARGE`] if it is in the table of large sizes.
    size: u32,
    stack: u32,
}

/// An array of entries in anonymous memory, all empty (zero) at first: the kernel
/// gives the pages as they are touched, and huge ones if it can.
struct Entries {
    start: NonNull<Entry>,
    len: usize,
}

impl Entries {
    fn zeroed(len: usize) -> Entries {
        let bytes = len * size_of::<Entry>();
        let Ok(start) = crate::mapping::anonymous_memory(bytes) else {
            std::alloc::handle_alloc_error(std::alloc::Layout::array::<Entry>(len).unwrap());
        };
        // SAFETY: only a hint about memory we own: without it the table works the same,
        // with more TLB misses.
        unsafe { libc::madvise(start.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE) };
        Entries { start: start.cast(), len }
    }
}

impl std::ops::Deref for Entries {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        // SAFETY: the mapping holds `len` entries, zero (empty) until written, and lives
        // as long as `self`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Entries {
    fn deref_mut(&mut self) -> &mut [Entry] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for Entries {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `zeroed`, which nothing refers to any more.
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.len * size_of::<Entry>()) };
    }
}

// SAFETY: `Entries` owns its mapping as a `Vec` owns its buffer.
unsafe impl Send for Entries {}

/// Sizes from 4 GiB up are kept aside: they are rare, and the entry stays 16 bytes.
const LARGE: u32 = u32::MAX;
const INITIAL_BITS: u32 = 16;

pub(crate) struct LiveBlocks {
    entries: Entries,
    /// log2 of the number of entries.
    bits: u32,
    len: usize,
    large: HashMap<u64, u64>,
}

impl LiveBlocks {
    pub(crate) fn new() -> LiveBlocks {
        LiveBlocks::with_bits(INITIAL_BITS)
    }

    fn with_bits(bits: u32) -> LiveBlocks {
        LiveBlocks { entries: Entries::zeroed(1 << bits), bits, len: 0, large: HashMap::new() }
    }

    /// Addresses are 16-byte aligned and clustered: Fibonacci hashing spreads them, and
    /// its top bits are the home slot.
    fn home(&self, address: u64) -> usize {
        (address.rotate_right(4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits)) as usize
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// Starts loading the line where `address` would be, for a lookup soon after.
    pub(crate) fn prefetch(&self, address: u64) {
        crate::prefetch::prefetch(&self.entries[self.home(address)]);
    }

    /// Where `address` is, or the empty slot that ends its probe.
    fn find(&self, address: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut at = self.home(address);
        loop {
            match self.entries[at].address {
                0 => return (at, false),
                a if a == address => return (at, true),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Adds a block; returns whether one was live at the address already (it is
    /// replaced).
    pub(crate) fn insert(&mut self, address: u64, block: Block) -> bool {
        debug_assert_ne!(address, 0);
        if (self.len + 1) * 10 > self.entries.len() * 7 {
            self.grow();
        }
        let (at, present) = self.find(address);
        let size = match u32::try_from(block.size) {
            Ok(size) if size != LARGE => size,
            _ => {
                self.large.insert(address, block.size);
                LARGE
            }
        };
        if present && self.entries[at].size == LARGE && size != LARGE {
            self.large.remove(&address);
        }
        self.entries[at] = Entry { address, size, stack: block.stack };
        self.len += usize::from(!present);
        present
    }

    /// Takes the block at `address` out, if one is live there.
    pub(crate) fn remove(&mut self, address: u64) -> Option<Block> {
        let (at, present) = self.find(address);
        if !present {
            return None;
        }
        let entry = self.entries[at];
        let size = match entry.size {
            LARGE => self.large.remove(&address).unwrap_or(u64::from(LARGE)),
            size => u64::from(size),
        };
        self.close_gap(at);
        self.len -= 1;
        Some(Block { size, stack: entry.stack })
    }

    /// Empties slot `gap`, moving back each later entry of the run whose probe passed
    /// through it, so that every probe still ends at its entry or at an empty slot.
    fn close_gap(&mut self, mut gap: usize) {
        let mask = self.mask();
        let mut at = (gap + 1) & mask;
        loop {
            let entry = self.entries[at];
            if entry.address == 0 {
                break;
            }
            // The entry may fill the gap if its home is not in (gap, at], cyclically.
            let home = self.home(entry.address);
            if (at.wrapping_sub(home) & mask) >= (at.wrapping_sub(gap) & mask) {
                self.entries[gap] = entry;
                gap = at;
            }
            at = (at + 1) & mask;
        }
        self.entries[gap] = Entry::default();
    }

    fn grow(&mut self) {
        let mut bigger = LiveBlocks::with_bits(self.bits + 1);
        for entry in self.entries.iter().filter(|e| e.address != 0) {
            let (at, _) = bigger.find(entry.address);
            bigger.entries[at] = *entry;
        }
        bigger.len = self.len;
        bigger.large = std::mem::take(&mut self.large);
        *self = bigger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-seed generator: the same sequence of operations on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn it_agrees_with_a_hash_map_over_random_inserts_and_removes() {
        let mut table = LiveBlocks::with_bits(4);
        let mut model = HashMap::new();
        let mut state = 0x2545_f491_4f6c_dd1d;
        for step in 0..200_000u64 {
            // Few distinct addresses, so that runs collide, wrap and get removed in the
            // middle; a heap-like spacing of 16 bytes.
            let address = 0x5555_0000_0000 + (xorshift(&mut state) % 3000) * 16;
            if xorshift(&mut state).is_multiple_of(3) {
                assert_eq!(table.remove(address), model.remove(&address), "step {step}");
            } else {
                let block = Block { size: step % 1000, stack: (step % 7) as u32 };
                let present = table.insert(address, block);
                assert_eq!(present, model.insert(address, block).is_some(), "step {step}");
            }
            assert_eq!(table.len, model.len(), "step {step}");
        }
        for (address, block) in model {
            assert_eq!(table.remove(address), Some(block));
        }
        assert_eq!(table.len, 0);
    }

    #[test]
    fn sizes_of_four_gigabytes_and_more_are_kept_whole() {
        let mut table = LiveBlocks::new();
        let huge = Block { size: 5 << 30, stack: 3 };
        let edge = Block { size: u64::from(u32::MAX), stack: 4 };
        assert!(!table.insert(0x1000, huge));
        assert!(!table.insert(0x2000, edge));
        // Replaced by a small block: the large size must not come back later.
        assert!(table.insert(0x1000, Block { size: 10, stack: 1 }));
        assert_eq!(table.remove(0x1000), Some(Block { size: 10, stack: 1 }));
        assert_eq!(table.remove(0x2000), Some(edge));
        assert!(table.large.is_empty());
        assert!(!table.insert(0x1000, huge));
        assert_eq!(table.remove(0x1000), Some(huge));
    }

    #[test]
    fn it_grows_past_its_first_size_and_keeps_every_block() {
        let mut table = LiveBlocks::with_bits(2);
        for n in 1..=10_000u64 {
            table.insert(n * 16, Block { size: n, stack: 0 });
        }
        assert!(table.entries.len() * 7 >= table.len * 10);
        for n in 1..=10_000u64 {
            assert_eq!(table.remove(n * 16), Some(Block { size: n, stack: 0 }));
        }
        assert_eq!(table.remove(16), None);
    }
}
