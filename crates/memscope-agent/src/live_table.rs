//! Live blocks, kept by the threads that allocated them, so that a free is paired with
//! its allocation at the moment it happens: the program's own ordering decides which
//! block a free ends, and event times need no precision for it.
//!
//! Each thread owns a table of its live blocks: an open-addressing array with linear
//! probing. The owner inserts and removes without locks; removed entries become
//! tombstones, so an entry never moves while its array is in use. A thread that frees
//! a block it did not allocate *claims* it from the owner's table with a
//! compare-and-swap, under that table's lock, which otherwise guards only the owner's
//! replacement of a full array. An owner and a claimer never touch the same entry:
//! that would take two frees of one block.
//!
//! When a thread ends, the blocks it still holds move to the table of blocks without
//! an owner, which also takes allocations of threads already past their thread-local
//! destructors.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use memscope_format::StackId;

use crate::table_memory;

/// What a free needs of its allocation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub size: u64,
    pub stack: StackId,
}

const EMPTY: u64 = 0;
/// A removed entry. Never a block's address: glibc's blocks are 16-byte aligned.
const TOMBSTONE: u64 = 1;
const MIN_SLOTS_LOG2: u32 = 8;

/// In a packed block, a size that stands for "4 GiB or more, kept in [`HUGE_SIZES`]".
const HUGE: u64 = u32::MAX as u64;

/// A block's size and stack in one word, so a slot is 16 bytes: the tables are
/// touched on every hooked call, and the smaller they are the more of them stays in
/// the nearest cache.
#[derive(Copy, Clone)]
struct Packed(u64);

/// Sizes of the few blocks of 4 GiB or more, by address.
static HUGE_SIZES: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

impl Packed {
    fn new(ptr: u64, block: Block) -> Packed {
        let size = if block.size < HUGE { block.size } else { huge_size(ptr, block.size) };
        Packed((u64::from(block.stack.0) << 32) | size)
    }

    /// The block, its huge size (if any) taken from [`HUGE_SIZES`]: call it once, as
    /// the block leaves the tables.
    fn unpack(self, ptr: u64) -> Block {
        let size = self.0 & HUGE;
        let size = if size < HUGE { size } else { take_huge_size(ptr) };
        Block { size, stack: StackId((self.0 >> 32) as u32) }
    }
}

#[cold]
fn huge_size(ptr: u64, size: u64) -> u64 {
    lock(&HUGE_SIZES).push((ptr, size));
    HUGE
}

#[cold]
fn take_huge_size(ptr: u64) -> u64 {
    let mut huge = lock(&HUGE_SIZES);
    let i = huge.iter().position(|&(p, _)| p == ptr);
    i.map_or(HUGE, |i| huge.swap_remove(i).1)
}

/// All zeros is an empty slot.
struct Slot {
    key: AtomicU64,
    block: AtomicU64,
}

impl Slot {
    fn packed(&self) -> Packed {
        Packed(self.block.load(Ordering::Relaxed))
    }
}

pub(crate) struct LiveTable {
    /// Taken by claimers, and by the owner to replace the array.
    lock: Mutex<()>,
    slots: AtomicPtr<Slot>,
    /// The array holds 2^log2 slots (0 before the first insert: no array).
    log2: AtomicU32,
    /// Slots not empty (live or tombstones). Only the owner writes it.
    used: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a probe for `ptr` starts: pointers are 16-byte aligned and clustered, so rotate
/// the zero bits away and take the top bits of a multiplicative hash.
#[inline]
fn home(ptr: u64, log2: u32) -> usize {
    (ptr.rotate_right(4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - log2)) as usize
}

/// Stores `block` in the first free slot of `ptr`'s probe: `Some(true)` if that slot
/// was empty (not a tombstone), `None` if no slot is free.
#[inline]
fn place(slots: &[Slot], ptr: u64, block: Packed) -> Option<bool> {
    let mask = slots.len().wrapping_sub(1);
    let mut i = home(ptr, slots.len().trailing_zeros());
    for _ in 0..slots.len() {
        let slot = &slots[i];
        let key = slot.key.load(Ordering::Relaxed);
        if key <= TOMBSTONE {
            slot.block.store(block.0, Ordering::Relaxed);
            slot.key.store(ptr, Ordering::Release);
            return Some(key == EMPTY);
        }
        i = (i + 1) & mask;
    }
    None
}

impl LiveTable {
    pub(crate) const fn new() -> LiveTable {
        LiveTable {
            lock: Mutex::new(()),
            slots: AtomicPtr::new(std::ptr::null_mut()),
            log2: AtomicU32::new(0),
            used: AtomicUsize::new(0),
        }
    }

    /// The current array. Claimers must hold `lock`; the owner may read it any time.
    #[inline]
    fn array(&self) -> &[Slot] {
        let log2 = self.log2.load(Ordering::Acquire);
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            return &[];
        }
        // SAFETY: `slots` holds 2^log2 slots; it is freed only by `replace_array`, which
        // excludes claimers by the lock and runs on the owner's thread.
        unsafe { std::slice::from_raw_parts(slots, 1 << log2) }
    }

    /// Adds a block. Only the owner may call it (for the shared table: only under
    /// [`UNOWNED_ROLE`]).
    #[inline]
    pub(crate) fn insert(&self, ptr: u64, block: Block) {
        self.insert_packed(ptr, Packed::new(ptr, block));
    }

    /// Keeps at most three quarters of the slots in use, so probes stay short. If the
    /// table cannot grow (out of memory) and is full, the block is not kept: its free
    /// will count as untracked.
    #[inline]
    fn insert_packed(&self, ptr: u64, block: Packed) {
        if (self.used.load(Ordering::Relaxed) + 1) * 4 > self.array().len() * 3 {
            self.replace_array();
        }
        if place(self.array(), ptr, block) == Some(true) {
            let used = self.used.load(Ordering::Relaxed);
            self.used.store(used + 1, Ordering::Relaxed);
        }
    }

    /// Starts loading the slot where a probe for `ptr` begins, so that an insert a
    /// little later finds it in the nearest cache. Owner only.
    #[inline]
    pub(crate) fn prefetch(&self, ptr: u64) {
        let slots = self.array();
        if let Some(slot) = slots.get(home(ptr, slots.len().trailing_zeros())) {
            // SAFETY: a prefetch has no effect on memory; the address is a live slot.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (slot as *const Slot).cast(),
                )
            };
        }
    }

    /// Removes the owner's own block at `ptr`. Only the owner may call it.
    #[inline]
    pub(crate) fn remove(&self, ptr: u64) -> Option<Block> {
        let slots = self.array();
        let i = Self::find(slots, ptr)?;
        let block = slots[i].packed();
        self.vacate(slots, i);
        Some(block.unpack(ptr))
    }

    /// The slot holding `ptr`, if any.
    #[inline]
    fn find(slots: &[Slot], ptr: u64) -> Option<usize> {
        if slots.is_empty() {
            return None;
        }
        let mask = slots.len() - 1;
        let mut i = home(ptr, slots.len().trailing_zeros());
        loop {
            match slots[i].key.load(Ordering::Acquire) {
                key if key == ptr => return Some(i),
                EMPTY => return None,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Empties slot `i` (owner only). A slot followed by an empty one ends no probe
    /// that goes further, so it becomes empty, and so do the tombstones before it;
    /// otherwise it becomes a tombstone.
    #[inline]
    fn vacate(&self, slots: &[Slot], mut i: usize) {
        let mask = slots.len() - 1;
        if slots[(i + 1) & mask].key.load(Ordering::Relaxed) != EMPTY {
            slots[i].key.store(TOMBSTONE, Ordering::Release);
            return;
        }
        let mut freed = 0;
        loop {
            slots[i].key.store(EMPTY, Ordering::Release);
            freed += 1;
            i = i.wrapping_sub(1) & mask;
            if slots[i].key.load(Ordering::Relaxed) != TOMBSTONE {
                break;
            }
        }
        let used = self.used.load(Ordering::Relaxed);
        self.used.store(used - freed, Ordering::Relaxed);
    }

    /// Takes the block at `ptr` from a table the caller does not own.
    pub(crate) fn claim(&self, ptr: u64) -> Option<Block> {
        let _claiming = lock(&self.lock);
        let slots = self.array();
        let i = Self::find(slots, ptr)?;
        let block = slots[i].packed();
        let taken =
            slots[i].key.compare_exchange(ptr, TOMBSTONE, Ordering::AcqRel, Ordering::Relaxed);
        taken.is_ok().then(|| block.unpack(ptr))
    }

    /// Moves the live blocks to a fresh array, twice as many slots as needed or more, so
    /// that the tombstones are gone and inserts again find free slots within a few
    /// steps. Owner only.
    #[cold]
    fn replace_array(&self) {
        let _claims_wait = lock(&self.lock);
        let old = self.array();
        let live = old.iter().filter(|slot| slot.key.load(Ordering::Relaxed) > TOMBSTONE).count();
        let log2 = (live.max(1) * 2).next_power_of_two().trailing_zeros().max(MIN_SLOTS_LOG2);
        let fresh = table_memory::alloc_zeroed(size_of::<Slot>() << log2).cast::<Slot>();
        if fresh.is_null() {
            return;
        }
        // SAFETY: 2^log2 zeroed, so empty, slots, reachable from here alone until stored.
        let new = unsafe { std::slice::from_raw_parts(fresh, 1 << log2) };
        for slot in old {
            let key = slot.key.load(Ordering::Relaxed);
            if key > TOMBSTONE {
                place(new, key, slot.packed());
            }
        }
        let (old_ptr, old_bytes) = (self.slots.load(Ordering::Relaxed), size_of_val(old));
        self.slots.store(fresh, Ordering::Release);
        self.log2.store(log2, Ordering::Release);
        self.used.store(live, Ordering::Relaxed);
        if !old_ptr.is_null() {
            // SAFETY: made by `alloc_zeroed` above in an earlier call; claimers are held
            // off by the lock and will read the new array.
            unsafe { table_memory::free(old_ptr.cast(), old_bytes) };
        }
    }

    /// Frees the array: the table is empty from now on. Claimers must be held off, and
    /// the owner must not use the table again.
    fn release_array(&self) {
        let bytes = size_of_val(self.array());
        let slots = self.slots.swap(std::ptr::null_mut(), Ordering::AcqRel);
        self.log2.store(0, Ordering::Release);
        if !slots.is_null() {
            // SAFETY: made by `alloc_zeroed` in `replace_array`; no longer reachable
            // through `slots`, and claimers are held off.
            unsafe { table_memory::free(slots.cast(), bytes) };
        }
    }

    /// The live blocks. Claimers must be held off.
    fn live(&self) -> Vec<(u64, Packed)> {
        let slots = self.array().iter();
        let keyed = slots.map(|slot| (slot.key.load(Ordering::Relaxed), slot));
        keyed.filter(|(key, _)| *key > TOMBSTONE).map(|(key, slot)| (key, slot.packed())).collect()
    }
}

impl Drop for LiveTable {
    fn drop(&mut self) {
        self.release_array();
    }
}

/// Every live thread's table. A claim reads it for its whole search, so a thread's
/// blocks cannot move to [`UNOWNED`] behind its back. Read, not locked: threads that
/// free each other's blocks search at the same time, each table's own lock keeping
/// two claims of one block apart.
static TABLES: RwLock<Vec<Arc<LiveTable>>> = RwLock::new(Vec::new());
/// Blocks of threads that ended, and of threads past their thread-local destructors.
static UNOWNED: LiveTable = LiveTable::new();
/// Held by whoever inserts into [`UNOWNED`]: it has no single owner thread.
static UNOWNED_ROLE: Mutex<()> = Mutex::new(());
/// Frees of addresses no table held (memory the recorder never saw allocated).
static UNTRACKED_FREES: AtomicU64 = AtomicU64::new(0);

/// A new thread's table, registered for claims.
pub(crate) fn register() -> Arc<LiveTable> {
    let table = Arc::new(LiveTable::new());
    tables_to_change().push(table.clone());
    table
}

fn tables() -> RwLockReadGuard<'static, Vec<Arc<LiveTable>>> {
    TABLES.read().unwrap_or_else(|e| e.into_inner())
}

fn tables_to_change() -> RwLockWriteGuard<'static, Vec<Arc<LiveTable>>> {
    TABLES.write().unwrap_or_else(|e| e.into_inner())
}

/// A thread ends: its blocks move to the shared table, where other threads' frees
/// still find them. The owner must not use `table` afterwards.
pub(crate) fn retire(table: &Arc<LiveTable>) {
    let mut tables = tables_to_change();
    tables.retain(|t| !Arc::ptr_eq(t, table));
    let _claims_wait = lock(&table.lock);
    let _role = lock(&UNOWNED_ROLE);
    for (ptr, block) in table.live() {
        UNOWNED.insert_packed(ptr, block);
    }
    // A thread still holding the table as a claim hint now finds nothing in it.
    table.release_array();
}

/// Records a block allocated by a thread without a table of its own.
pub(crate) fn insert_unowned(ptr: u64, block: Block) {
    let _role = lock(&UNOWNED_ROLE);
    UNOWNED.insert(ptr, block);
}

/// A claimed block, and the thread table it came from (`None`: the shared table).
pub(crate) type Claimed = (Block, Option<Arc<LiveTable>>);

/// Takes the block at `ptr` from whichever table holds it, other than `own` (already
/// searched).
pub(crate) fn claim_elsewhere(ptr: u64, own: Option<&LiveTable>) -> Option<Claimed> {
    let tables = tables();
    let mut others = tables.iter().filter(|t| !own.is_some_and(|own| std::ptr::eq(&***t, own)));
    let claimed = others.find_map(|t| t.claim(ptr).map(|block| (block, Some(t.clone()))));
    claimed.or_else(|| UNOWNED.claim(ptr).map(|block| (block, None)))
}

/// Runs `f` if `table` is the only thread's table, keeping threads from registering
/// meanwhile; whether it ran.
pub(crate) fn while_alone(table: &Arc<LiveTable>, f: impl FnOnce()) -> bool {
    let tables = tables();
    let alone = tables.len() == 1 && Arc::ptr_eq(&tables[0], table);
    if alone {
        f();
    }
    alone
}

/// Counts a free of memory that no table held.
pub(crate) fn count_untracked() {
    UNTRACKED_FREES.fetch_add(1, Ordering::Relaxed);
}

/// Frees of memory that no table held.
pub(crate) fn untracked_frees() -> u64 {
    UNTRACKED_FREES.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(size: u64) -> Block {
        Block { size, stack: StackId(size as u32) }
    }

    #[test]
    fn owner_inserts_and_removes_through_growth_and_tombstones() {
        let table = LiveTable::new();
        for round in 0..20u64 {
            for i in 0..1000 {
                table.insert(0x1000 + 16 * (i + round * 500), block(i));
            }
            for i in 0..1000 {
                let removed = table.remove(0x1000 + 16 * (i + round * 500));
                assert_eq!(removed, Some(block(i)), "round {round}, block {i}");
            }
            assert_eq!(table.remove(0x1000 + 16 * round * 500), None);
        }
        assert!(table.array().len() <= 4096, "tombstones were cleared, not grown around");
    }

    #[test]
    fn sizes_of_4_gib_and_more_survive_packing() {
        let table = LiveTable::new();
        let huge = Block { size: 5 << 30, stack: StackId(9) };
        table.insert(0x7000, huge);
        table.insert(0x7010, block(u32::MAX as u64 - 1));
        assert_eq!(table.remove(0x7000), Some(huge));
        assert_eq!(table.remove(0x7010), Some(block(u32::MAX as u64 - 1)));
    }

    #[test]
    fn another_thread_claims_a_block_once() {
        let table = Arc::new(LiveTable::new());
        table.insert(0x40, block(7));
        table.insert(0x50, block(8));
        let claimer = table.clone();
        let claimed = std::thread::spawn(move || (claimer.claim(0x40), claimer.claim(0x40)));
        assert_eq!(claimed.join().unwrap(), (Some(block(7)), None));
        assert_eq!(table.remove(0x40), None);
        assert_eq!(table.remove(0x50), Some(block(8)));
    }

    #[test]
    fn blocks_of_an_ended_thread_stay_claimable() {
        let table = register();
        table.insert(0xdead0, block(3));
        retire(&table);
        assert_eq!(table.claim(0xdead0), None, "a retired table is empty");
        assert_eq!(
            claim_elsewhere(0xdead0, None).map(|(b, from)| (b, from.is_none())),
            Some((block(3), true))
        );
        assert!(claim_elsewhere(0xdead0, None).is_none());
    }
}
