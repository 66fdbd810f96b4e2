//! Stack interning: each distinct stack is defined once and then named by a small id.
//! A direct-mapped per-thread cache answers the common case (a stack seen before by
//! this thread) without touching the shared table or its lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use memscope_format::{StackDef, StackId};

/// For keys that are already well mixed (stack hashes, mixed pointers): hashing them
/// again would only cost time.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

struct Table {
    by_hash: HashMap<u64, StackId, BuildHasherDefault<IdentityHasher>>,
    defs: Vec<StackDef>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    by_hash: HashMap::with_hasher(BuildHasherDefault::new()),
    defs: Vec::new(),
});

const CACHE_SLOTS: usize = 4096;

/// One thread's recently seen stacks, by 64-bit hash.
pub(crate) struct StackCache {
    slots: Box<[(u64, StackId)]>,
}

impl StackCache {
    pub(crate) fn new() -> Self {
        StackCache { slots: vec![(0, StackId::NONE); CACHE_SLOTS].into_boxed_slice() }
    }
}

fn hash(frames: &[u64]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64 ^ frames.len() as u64;
    for &frame in frames {
        h = (h.rotate_left(23) ^ frame).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    // Never 0, so an empty cache slot can't match.
    (h ^ (h >> 29)) | 1
}

/// The id of `frames`, defining it if it is new. An empty stack is [`StackId::NONE`].
pub(crate) fn intern(frames: &[u64], cache: &mut StackCache) -> StackId {
    if frames.is_empty() {
        return StackId::NONE;
    }
    let h = hash(frames);
    let slot = &mut cache.slots[(h as usize) % CACHE_SLOTS];
    if slot.0 == h {
        return slot.1;
    }
    let id = intern_shared(h, frames);
    *slot = (h, id);
    id
}

fn intern_shared(mut h: u64, frames: &[u64]) -> StackId {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        match table.by_hash.get(&h) {
            Some(&id) if table.defs[id.0 as usize - 1].frames == frames => return id,
            // A true 64-bit collision: probe the next hash.
            Some(_) => h = h.wrapping_add(2),
            None => break,
        }
    }
    let id = StackId(table.defs.len() as u32 + 1);
    table.defs.push(StackDef { id, frames: frames.to_vec() });
    table.by_hash.insert(h, id);
    id
}

/// Definitions from position `from` on, for the writer, which writes each stack
/// before the first events that refer to it.
pub(crate) fn defined_since(from: usize) -> Vec<StackDef> {
    let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    table.defs.get(from..).map(<[StackDef]>::to_vec).unwrap_or_default()
}
