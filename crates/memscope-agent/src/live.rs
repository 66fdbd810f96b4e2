//! The live table: pointer → (size, stack) for every tracked block. It lets a free
//! carry the size and stack of what it frees. Sharded by pointer so that threads
//! freeing different blocks rarely meet on a lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use memscope_format::StackId;

/// What the table keeps per live block.
#[derive(Copy, Clone, Debug)]
pub(crate) struct LiveBlock {
    pub size: u64,
    pub stack: StackId,
}

/// Keys are already well-mixed (pointers hashed by [`mix`], or stack hashes).
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

type Map = HashMap<usize, LiveBlock, BuildHasherDefault<IdentityHasher>>;

#[repr(align(64))]
struct Shard(Mutex<Map>);

const SHARD_BITS: u32 = 7;

static SHARDS: [Shard; 1 << SHARD_BITS] =
    [const { Shard(Mutex::new(HashMap::with_hasher(BuildHasherDefault::new()))) }; 1 << SHARD_BITS];

/// Malloc pointers are 16-byte aligned and clustered: rotate the always-zero bits away
/// and multiply by an odd constant, which spreads them and stays one-to-one.
fn mix(ptr: usize) -> u64 {
    (ptr as u64).rotate_right(4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn shard(key: u64) -> std::sync::MutexGuard<'static, Map> {
    // Middle bits pick the shard: the map itself uses the low bits for buckets and the
    // top seven as tags, and both must still vary within a shard.
    SHARDS[((key >> 32) & ((1 << SHARD_BITS) - 1)) as usize].0.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn insert(ptr: usize, block: LiveBlock) {
    let key = mix(ptr);
    shard(key).insert(key as usize, block);
}

pub(crate) fn remove(ptr: usize) -> Option<LiveBlock> {
    let key = mix(ptr);
    shard(key).remove(&(key as usize))
}
