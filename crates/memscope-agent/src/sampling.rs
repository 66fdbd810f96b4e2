//! Sampling by bytes, as Go's `MemProfileRate` and tcmalloc do: every allocated byte is
//! sampled with probability 1/rate, so an allocation of `size` bytes is recorded with
//! probability `1 - exp(-size/rate)`, and reports scale each sample by the inverse.
//!
//! Each thread counts down the bytes to its next sample, drawn from an exponential
//! distribution with mean `rate`: an allocation that does not reach zero costs a
//! subtraction and records nothing. A sampled block's address goes into a small shared
//! set, so that its free (and only its free) is recorded too: a free that finds nothing
//! in the set is of a block that was not sampled.

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};

use crate::area::{Area, ThreadRecord};

static RATE: AtomicU64 = AtomicU64::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// Buckets of the sampled set, each one cache line of eight addresses.
const BUCKETS: usize = 4096;
const WAYS: usize = 8;

#[repr(C, align(64))]
struct Bucket([AtomicU64; WAYS]);

static SET: AtomicPtr<Bucket> = AtomicPtr::new(core::ptr::null_mut());

/// How many addresses each bucket holds. A free looks here first: 4 KiB that stay in
/// the cache, where the buckets (256 KiB) would cost a cache miss per free, and most
/// buckets are empty since samples are rare. A free of a sampled block comes after the
/// allocation that remembered it (the program synchronised the two if other threads
/// made them), so the count it sees includes that block.
static OCCUPANCY: [AtomicU8; BUCKETS] = [const { AtomicU8::new(0) }; BUCKETS];

/// Turns sampling on with mean `rate` bytes between samples (0: off), seeding each
/// thread's random numbers from `seed`. The set is mapped here, once.
pub(crate) fn configure(rate: u64, seed: u64) -> bool {
    RATE.store(rate, Ordering::Relaxed);
    SEED.store(seed, Ordering::Relaxed);
    if rate == 0 || !SET.load(Ordering::Acquire).is_null() {
        return true;
    }
    let bytes = BUCKETS * core::mem::size_of::<Bucket>();
    // SAFETY: an anonymous private mapping, zeroed; the address is the kernel's choice.
    let set = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if set == libc::MAP_FAILED {
        RATE.store(0, Ordering::Relaxed);
        return false;
    }
    SET.store(set.cast(), Ordering::Release);
    true
}

/// Whether allocations are sampled.
#[inline(always)]
pub(crate) fn is_on() -> bool {
    RATE.load(Ordering::Relaxed) != 0
}

/// The mean bytes between samples, 0 when off.
pub(crate) fn rate() -> u64 {
    RATE.load(Ordering::Relaxed)
}

/// Sets a new thread's countdown.
pub(crate) fn start_thread(record: &ThreadRecord, index: u32) {
    let seed =
        SEED.load(Ordering::Relaxed) ^ (u64::from(index) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    record.random.store(mix(seed) | 1, Ordering::Relaxed);
    record.sample_countdown.store(next_gap(record), Ordering::Relaxed);
}

/// Counts an allocation of `size` bytes down on the thread of `record` (null: a thread
/// not seen yet) if it does not reach the next sample: true if it is then surely not
/// sampled. Otherwise nothing changes, and [`take`] decides. A signal handler that
/// allocates between the load and the store has its bytes forgotten, which shifts the
/// next sample a little and biases nothing.
#[inline(always)]
pub(crate) fn passes(record: *const ThreadRecord, size: u64) -> bool {
    // SAFETY: a thread's record, when it has one, lives in the area for the rest of the
    // process.
    let Some(record) = (unsafe { record.as_ref() }) else { return false };
    let left = record.sample_countdown.load(Ordering::Relaxed);
    if size < left {
        record.sample_countdown.store(left - size, Ordering::Relaxed);
        return true;
    }
    false
}

/// Whether an allocation of `size` bytes is sampled; counts it down.
#[inline(always)]
pub(crate) fn take(record: &ThreadRecord, size: u64) -> bool {
    let left = record.sample_countdown.load(Ordering::Relaxed);
    if size < left {
        record.sample_countdown.store(left - size, Ordering::Relaxed);
        return false;
    }
    record.sample_countdown.store(next_gap(record), Ordering::Relaxed);
    true
}

/// splitmix64's finalizer: seeds that differ in a few bits (1, 2, 3, ...) start far
/// apart, where xorshift's first outputs from nearby states would be alike.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Bytes to the next sample: exponential with mean `rate`, at least 1.
fn next_gap(record: &ThreadRecord) -> u64 {
    // xorshift64*: fast, and good enough to draw gaps.
    let mut x = record.random.load(Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    record.random.store(x, Ordering::Relaxed);
    let bits = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
    // Uniform in (0, 1].
    let uniform = (bits as f64 + 1.0) / (1u64 << 53) as f64;
    let gap = -ln(uniform) * RATE.load(Ordering::Relaxed) as f64;
    (gap as u64).max(1)
}

/// The natural logarithm of `x` in (0, 1], without libm: `x = m·2^e` with `m` in
/// [1/√2, √2), then `ln m = 2·atanh((m-1)/(m+1))` by its series (|z| < 0.172, so eight
/// terms give double precision to about 1e-15).
fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut mantissa = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if mantissa > core::f64::consts::SQRT_2 {
        mantissa /= 2.0;
        exponent += 1;
    }
    let z = (mantissa - 1.0) / (mantissa + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    for k in 0..8 {
        sum += term / (2 * k + 1) as f64;
        term *= z2;
    }
    2.0 * sum + exponent as f64 * core::f64::consts::LN_2
}

/// The bucket of `address`.
#[inline(always)]
fn bucket_index(address: u64) -> usize {
    ((address >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize % BUCKETS
}

fn bucket(index: usize) -> &'static Bucket {
    // SAFETY: the set is mapped before sampling is on, and never unmapped; index is
    // inside it.
    unsafe { &*SET.load(Ordering::Acquire).add(index) }
}

/// Remembers a sampled block; false (and counted) if its bucket is full.
pub(crate) fn remember(area: &Area, address: u64) -> bool {
    let index = bucket_index(address);
    for slot in &bucket(index).0 {
        if slot.compare_exchange(0, address, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            OCCUPANCY[index].fetch_add(1, Ordering::Relaxed);
            return true;
        }
    }
    area.header().samples_refused.fetch_add(1, Ordering::Relaxed);
    false
}

/// Whether `address` may be of a sampled block: false when its bucket is empty, as
/// it is for most blocks since samples are rare.
#[inline(always)]
pub(crate) fn may_hold(address: u64) -> bool {
    OCCUPANCY[bucket_index(address)].load(Ordering::Relaxed) != 0
}

/// Forgets a block: true if it was sampled (its free is then recorded).
pub(crate) fn forget(address: u64) -> bool {
    let index = bucket_index(address);
    if OCCUPANCY[index].load(Ordering::Relaxed) == 0 {
        return false;
    }
    let found = bucket(index).0.iter().any(|slot| {
        slot.load(Ordering::Relaxed) == address
            && slot.compare_exchange(address, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    });
    if found {
        OCCUPANCY[index].fetch_sub(1, Ordering::Relaxed);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logarithm_is_right_across_the_unit_interval() {
        for x in [1.0f64, 0.999_999, 0.75, 0.5, 0.1, 1e-3, 1e-9, 1.1e-16] {
            let expected = x.ln();
            assert!(
                (ln(x) - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                "ln({x}) = {} not {expected}",
                ln(x)
            );
        }
    }
}
