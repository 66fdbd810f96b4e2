//! Stack interning: each distinct stack is defined once, in the capture area's log, and
//! then named by a small id. A direct-mapped per-thread cache answers the common case (a
//! stack seen before by this thread) without touching the shared table or its lock.
//!
//! The shared table keeps only a 128-bit hash of each stack, not its frames: the frames
//! live in the collector, and the host's memory grows by a few words per distinct stack.
//! Two different stacks with one 128-bit hash are not a practical concern.

use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::area::Area;
use crate::control;
use crate::heap;
use crate::spin::SpinLock;

/// For keys that are already well mixed (stack hashes).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl core::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Build = core::hash::BuildHasherDefault<IdentityHasher>;

struct Table {
    ids: HashMap<u128, u32, Build>,
    next_id: u32,
}

static TABLE: SpinLock<Table> =
    SpinLock::new(Table { ids: HashMap::with_hasher(Build::new()), next_id: 1 });

const CACHE_SLOTS: usize = 4096;

/// One thread's recently seen stacks, by hash.
pub(crate) struct StackCache {
    slots: Vec<(u128, u32)>,
}

impl StackCache {
    pub(crate) fn new() -> Self {
        StackCache { slots: alloc::vec![(0, 0); CACHE_SLOTS] }
    }
}

fn hash(frames: &[u64]) -> u128 {
    let mut a = 0x243f_6a88_85a3_08d3u64 ^ frames.len() as u64;
    let mut b = 0x1319_8a2e_0370_7344u64;
    for &frame in frames {
        a = (a.rotate_left(23) ^ frame).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        b = (b.rotate_left(17) ^ frame).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    }
    // Never 0, so an empty cache slot can't match.
    ((u128::from(a ^ (a >> 29)) << 64) | u128::from(b ^ (b >> 31))) | 1
}

/// The id of `frames` (0 for an empty stack), defining it in the area's log if it is
/// new. `append` writes a log record, waiting for room; 0 if the stack could not be
/// defined (no memory, no room): the event is then recorded without its stack.
pub(crate) fn intern(
    frames: &[u64],
    cache: &mut StackCache,
    area: &Area,
    append: impl FnOnce(&Area, u8, &[&[u8]]) -> bool,
) -> u32 {
    if frames.is_empty() {
        return 0;
    }
    let h = hash(frames);
    let slot = &mut cache.slots[(h as usize) % CACHE_SLOTS];
    if slot.0 == h {
        return slot.1;
    }
    let id = intern_shared(h, frames, area, append);
    if id != 0 {
        *slot = (h, id);
    }
    id
}

fn intern_shared(
    h: u128,
    frames: &[u64],
    area: &Area,
    append: impl FnOnce(&Area, u8, &[&[u8]]) -> bool,
) -> u32 {
    let mut table = TABLE.lock();
    if let Some(&id) = table.ids.get(&h) {
        return id;
    }
    if heap::out_of_memory() || table.ids.try_reserve(1).is_err() {
        return 0;
    }
    let id = table.next_id;
    let (kind, head) = control::stack_head(id, frames.len());
    // SAFETY: u64 has no padding; the frames are read as their bytes.
    let bytes =
        unsafe { core::slice::from_raw_parts(frames.as_ptr().cast::<u8>(), frames.len() * 8) };
    if !append(area, kind, &[&head, bytes]) {
        return 0;
    }
    table.next_id += 1;
    table.ids.insert(h, id);
    id
}

/// In a forked child that records afresh: its area's log has no stacks yet.
///
/// # Safety
/// Only the calling thread may run in the process.
pub(crate) unsafe fn reset_after_fork() {
    TABLE.reset(Table { ids: HashMap::with_hasher(Build::new()), next_id: 1 });
}
