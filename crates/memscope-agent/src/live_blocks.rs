//! The writer's live blocks by address key: a hash map from key to a slot in a slab.
//!
//! The map holds only 4-byte slot numbers, so its lookups return in registers. With the
//! 24-byte blocks in the map itself, every insert and remove handed a block back
//! through memory, in stores narrower than the loads that read it, and store
//! forwarding failed on each of the writer's millions of pairings.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::stacks::IdentityHasher;

pub(crate) struct LiveBlocks<B> {
    slots: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    slab: Vec<B>,
    /// Slab entries free for reuse, latest freed last (still in cache).
    vacant: Vec<u32>,
}

impl<B> Default for LiveBlocks<B> {
    fn default() -> Self {
        LiveBlocks { slots: HashMap::default(), slab: Vec::new(), vacant: Vec::new() }
    }
}

impl<B: Copy> LiveBlocks<B> {
    /// Stores `block` under `key`, returning the block it replaces.
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, block: B) -> Option<B> {
        let slot = match self.vacant.pop() {
            Some(slot) => {
                self.slab[slot as usize] = block;
                slot
            }
            None => {
                self.slab.push(block);
                (self.slab.len() - 1) as u32
            }
        };
        let replaced = self.slots.insert(key, slot)?;
        Some(self.release(replaced))
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<&B> {
        self.slots.get(&key).map(|&slot| &self.slab[slot as usize])
    }

    #[inline]
    pub(crate) fn remove(&mut self, key: u64) -> Option<B> {
        let slot = self.slots.remove(&key)?;
        Some(self.release(slot))
    }

    fn release(&mut self, slot: u32) -> B {
        self.vacant.push(slot);
        self.slab[slot as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_blocks_kept_apart() {
        let mut live = LiveBlocks::default();
        assert_eq!(live.insert(1, 'a'), None);
        assert_eq!(live.insert(2, 'b'), None);
        assert_eq!(live.insert(1, 'c'), Some('a'));
        assert_eq!(live.get(1), Some(&'c'));
        assert_eq!(live.remove(2), Some('b'));
        assert_eq!(live.remove(2), None);
        assert_eq!(live.insert(3, 'd'), None);
        assert_eq!((live.get(1), live.get(3)), (Some(&'c'), Some(&'d')));
        assert_eq!(live.slab.len(), 3, "freed entries are reused");
    }
}
