//! Stack capture with framehop. All threads share one immutable unwinder snapshot
//! (swapped when modules change) and each keeps its own rule cache, so unwinding takes
//! no lock and, once warm, parses no DWARF.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::arch::asm;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{MustNotAllocateDuringUnwind, Unwinder as _};

use crate::area::Area;
use crate::config::{UnwindMode, FRAMES_LIMIT};
use crate::modules::{LoadedModule, MappedBytes};
use crate::spin::SpinLock;
use crate::stacks::{self, StackCache};

/// Unwinding never allocates: a stack may be captured in a signal handler, or while
/// glibc has no memory left.
type Policy = MustNotAllocateDuringUnwind;

struct Snapshot {
    unwinder: UnwinderX86_64<MappedBytes, Policy>,
    /// The agent's own code: frames here are dropped from every stack.
    own: Range<u64>,
    generation: u64,
}

static CURRENT: SpinLock<Option<Arc<Snapshot>>> = SpinLock::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Replaces the shared unwinder after the module list changed. In frame-pointer mode
/// only the agent's own module gets DWARF rules; every other address falls back to
/// framehop's frame-pointer rule. With `drop_own`, frames in the agent's own module are
/// left out of stacks (the preload library's; a recorder linked into the program
/// shares its module with the program, and keeps them).
pub(crate) fn install(modules: Vec<LoadedModule>, mode: UnwindMode, drop_own: bool) {
    let own_address = ThreadUnwinder::unwind as *const () as usize as u64;
    let mut unwinder = UnwinderX86_64::new();
    let mut own = 0..0;
    for module in modules {
        let is_own = module.record.ranges.iter().any(|r| r.contains(&own_address));
        if is_own && drop_own {
            own = module.record.ranges.iter().map(|r| r.start).min().unwrap_or(0)
                ..module.record.ranges.iter().map(|r| r.end).max().unwrap_or(0);
        }
        if let Some(unwind) = module.unwind.filter(|_| is_own || mode == UnwindMode::Dwarf) {
            unwinder.add_module(unwind);
        }
    }
    let generation = GENERATION.load(Ordering::Relaxed) + 1;
    let snapshot = Arc::new(Snapshot { unwinder, own, generation });
    *CURRENT.lock() = Some(snapshot);
    GENERATION.store(generation, Ordering::Release);
}

/// In a forked child: the parent's other threads may have held the snapshot's lock.
///
/// # Safety
/// Only the calling thread may run in the process.
pub(crate) unsafe fn reset_after_fork() {
    CURRENT.reset(None);
}

/// Memo slots per thread, in sets of MEMO_WAYS keyed by the stack pointer: calls from
/// sibling functions at the same depth share a stack pointer, so a set holds several.
const MEMO_SLOTS: usize = 64;
const MEMO_WAYS: usize = 4;
/// Stack words one memo can vouch for; deeper unwinds are not memoized.
const MEMO_READS: usize = 40;

/// A past unwind. A stack is its chain of return addresses, each read from a slot
/// whose place follows from the stack pointer and the return addresses below it; so
/// when the stack pointer is the same and every slot still holds the same return
/// address, the stack is the same, and a few compares replace the unwind. (Other words
/// the unwinder read, such as saved frame pointers, are left out: in code built
/// without frame pointers they hold whatever the register last held.)
///
/// Compact, because a check reads it on every allocation: the slots are kept as word
/// offsets above the stack pointer, apart from their values, and the stack pointers of
/// all memos sit in an array of their own, so looking through a set reads one line.
#[derive(Clone, Copy)]
struct Memo {
    stack: u32,
    /// The owner tag the stack was taken under.
    tag: u32,
    len: u32,
    /// Where each return-address slot is, in words above the stack pointer.
    offsets: [u16; MEMO_READS],
    /// What each held.
    values: [u64; MEMO_READS],
}

const EMPTY_MEMO: Memo =
    Memo { stack: 0, tag: 0, len: 0, offsets: [0; MEMO_READS], values: [0; MEMO_READS] };

/// Every word one unwind read, as (address, value).
struct Reads {
    len: usize,
    words: [(u64, u64); 2 * MEMO_READS],
}

impl Reads {
    fn record(&mut self, addr: u64, value: u64) {
        if self.len < self.words.len() {
            self.words[self.len] = (addr, value);
        }
        self.len += 1;
    }

    /// The return-address slots among the reads, or `None` if the unwind read more
    /// than a memo can hold, or a slot lies too far above the stack pointer.
    fn into_memo(self, sp: u64, returns: &[u64]) -> Option<Memo> {
        if self.len > self.words.len() {
            return None;
        }
        let mut memo = EMPTY_MEMO;
        for &(addr, value) in self.words[..self.len].iter().filter(|(_, v)| returns.contains(v)) {
            let index = memo.len as usize;
            *memo.offsets.get_mut(index)? = u16::try_from((addr - sp) / 8).ok()?;
            memo.values[index] = value;
            memo.len += 1;
        }
        Some(memo)
    }
}

/// One thread's unwinding state.
pub(crate) struct ThreadUnwinder {
    snapshot: Option<Arc<Snapshot>>,
    cache: Box<CacheX86_64<Policy>>,
    stack_top: u64,
    /// The stack pointer each memo was taken at; 0 for none.
    memo_sps: [u64; MEMO_SLOTS],
    memos: Box<[Memo]>,
    memo_hits: u64,
    captures: u64,
}

impl ThreadUnwinder {
    /// Adds this thread's captures and memo hits to the area's counts, so that speed
    /// claims can be checked (`MEMSCOPE_STATS=1`).
    pub(crate) fn report(&self, area: &Area) {
        area.header().captures.fetch_add(self.captures, Ordering::Relaxed);
        area.header().memo_hits.fetch_add(self.memo_hits, Ordering::Relaxed);
    }
}

impl ThreadUnwinder {
    pub(crate) fn new() -> Self {
        ThreadUnwinder {
            snapshot: None,
            cache: Box::new(CacheX86_64::new_in()),
            stack_top: stack_top(),
            memo_sps: [0; MEMO_SLOTS],
            memos: alloc::vec![EMPTY_MEMO; MEMO_SLOTS].into_boxed_slice(),
            memo_hits: 0,
            captures: 0,
        }
    }

    /// Picks up a newer snapshot if the modules changed; rule cache and memos describe
    /// the old code, so they start afresh with it.
    fn refresh(&mut self) {
        let latest = GENERATION.load(Ordering::Acquire);
        if self.snapshot.as_ref().is_some_and(|s| s.generation == latest) {
            return;
        }
        self.snapshot = CURRENT.lock().clone();
        *self.cache = CacheX86_64::new_in();
        self.memo_sps = [0; MEMO_SLOTS];
    }

    /// The interned stack of the caller of the hooked function, at most `depth` frames;
    /// new stacks are defined through `append` (see [`stacks::intern`]).
    #[inline(never)]
    /// A nonzero `tag` ends the stack with the tag's pseudo-frame (see `tags`).
    pub(crate) fn capture(
        &mut self,
        stacks: &mut StackCache,
        depth: usize,
        tag: u32,
        area: &Area,
        append: impl FnOnce(&Area, u8, &[&[u8]]) -> bool,
    ) -> u32 {
        self.refresh();
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers into outputs; touches no memory or stack.
        unsafe {
            asm!("lea {ip}, [rip]", "mov {sp}, rsp", "mov {bp}, rbp",
                 ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp,
                 options(nomem, nostack, preserves_flags));
        }
        self.captures += 1;
        let set = (sp.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize
            % (MEMO_SLOTS / MEMO_WAYS)
            * MEMO_WAYS;
        let ways = set..set + MEMO_WAYS;
        let recalled = ways.clone().find_map(|way| {
            let memo = &self.memos[way];
            (self.memo_sps[way] == sp && memo.tag == tag).then(|| memo.recall(sp)).flatten()
        });
        if let Some(stack) = recalled {
            self.memo_hits += 1;
            return stack;
        }
        let mut frames = [0u64; FRAMES_LIMIT + 1];
        let (mut count, memo) = self.unwind(ip, sp, bp, &mut frames[..depth]);
        if tag != 0 {
            frames[count] = crate::tags::frame_of(tag);
            count += 1;
        }
        let stack = stacks::intern(&frames[..count], stacks, area, append);
        if let (Some(memo), true) = (memo, stack != 0) {
            self.memo_sps[ways.clone()].rotate_right(1);
            self.memos[ways].rotate_right(1);
            self.memo_sps[set] = sp;
            self.memos[set] = Memo { stack, tag, ..memo };
        }
        stack
    }

    /// Walks the stack with framehop into `out`, the agent's own frames left out; also
    /// returns the memo of this walk when it can be memoized.
    fn unwind(&mut self, ip: u64, sp: u64, bp: u64, out: &mut [u64]) -> (usize, Option<Memo>) {
        let Some(snapshot) = self.snapshot.as_deref() else { return (0, None) };
        let top = self.stack_top;
        let mut reads = Reads { len: 0, words: [(0, 0); 2 * MEMO_READS] };
        let mut read_stack = |addr: u64| {
            if addr >= sp && addr.wrapping_add(8) <= top && addr.is_multiple_of(8) {
                // SAFETY: addr lies between this frame's stack pointer and the top of
                // this thread's stack, which is mapped and readable.
                let value = unsafe { *(addr as *const u64) };
                reads.record(addr, value);
                Ok(value)
            } else {
                Err(())
            }
        };
        let regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frames = snapshot.unwinder.iter_frames(ip, regs, &mut self.cache, &mut read_stack);
        let mut returns = [0u64; FRAMES_LIMIT];
        let (mut walked, mut count) = (0, 0);
        // The walk ends at the outermost frame, or at the first word it may not read
        // (as at the top of a thread's stack): both are fixed by the slots it read.
        while let Ok(Some(frame)) = frames.next() {
            let address = frame.address();
            if walked < returns.len() {
                returns[walked] = address;
                walked += 1;
            }
            if count == 0 && snapshot.own.contains(&address) {
                continue;
            }
            if count == out.len() {
                break;
            }
            out[count] = address;
            count += 1;
        }
        // A walk cut short by the frame limit is memoized too (it is the common case with
        // a small `--max-frames`): the limit is set once, when the recorder starts, so a
        // later capture asks for the same frames the memo vouches for.
        (count, reads.into_memo(sp, &returns[..walked]))
    }
}

impl Memo {
    /// The memo's stack, if every slot above `sp` still holds what it held.
    fn recall(&self, sp: u64) -> Option<u32> {
        let len = self.len as usize;
        // SAFETY: every slot was read from this thread's stack between the same stack
        // pointer and the stack's top, which is still mapped.
        let unchanged = self.offsets[..len].iter().zip(&self.values[..len]).all(
            |(&offset, &value)| unsafe { *((sp + u64::from(offset) * 8) as *const u64) } == value,
        );
        unchanged.then_some(self.stack)
    }
}

/// The highest address of this thread's stack; reads above it would fault.
///
/// Found as the end of the mapping that holds the stack pointer, read from
/// /proc/self/maps with raw system calls into a stack buffer. `pthread_getattr_np`
/// would be simpler, but it allocates while holding the thread's lock, and a program
/// that calls it (every Rust program does at start-up) would re-enter it from here.
fn stack_top() -> u64 {
    let sp = &sp_marker() as *const u8 as u64;
    // SAFETY: open/read/close on a path we own, into a buffer we own.
    let fd = unsafe { libc::open(c"/proc/self/maps".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    let mut reader = MapsReader { fd, buf: [0u8; 4096], len: 0, start: 0 };
    let mut top = 0;
    while let Some(line) = reader.next_line() {
        if let Some(range) = parse_range(line) {
            if range.contains(&sp) {
                top = range.end;
                break;
            }
        }
    }
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    top
}

/// A byte on the current stack; its address stands for the stack pointer.
#[inline(never)]
fn sp_marker() -> u8 {
    0
}

/// Lines of /proc/self/maps without allocating.
struct MapsReader {
    fd: i32,
    buf: [u8; 4096],
    len: usize,
    start: usize,
}

impl MapsReader {
    fn next_line(&mut self) -> Option<&[u8]> {
        loop {
            if let Some(end) = self.buf[self.start..self.len].iter().position(|&b| b == b'\n') {
                let line = self.start..self.start + end;
                self.start += end + 1;
                return Some(&self.buf[line]);
            }
            self.buf.copy_within(self.start..self.len, 0);
            self.len -= self.start;
            self.start = 0;
            // SAFETY: reads into the free tail of our own buffer.
            let n = unsafe {
                libc::read(
                    self.fd,
                    self.buf[self.len..].as_mut_ptr() as *mut libc::c_void,
                    self.buf.len() - self.len,
                )
            };
            if n <= 0 {
                return None;
            }
            self.len += n as usize;
        }
    }
}

/// `start-end` at the head of a maps line, in hex.
fn parse_range(line: &[u8]) -> Option<Range<u64>> {
    let field = line.split(|&b| b == b' ').next()?;
    let mut bounds = field.split(|&b| b == b'-');
    let hex = |bytes: &[u8]| u64::from_str_radix(core::str::from_utf8(bytes).ok()?, 16).ok();
    Some(hex(bounds.next()?)?..hex(bounds.next()?)?)
}
