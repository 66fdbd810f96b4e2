//! Stack capture with framehop. All threads share one immutable unwinder snapshot
//! (swapped when modules change) and each keeps its own rule cache, so unwinding takes
//! no lock and, once warm, parses no DWARF.

use std::arch::asm;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::Unwinder as _;

use crate::config::UnwindMode;
use crate::modules::{LoadedModule, MappedBytes};

struct Snapshot {
    unwinder: UnwinderX86_64<MappedBytes>,
    /// The agent's own code: frames here are dropped from every stack.
    own: Range<u64>,
    generation: u64,
}

static CURRENT: Mutex<Option<Arc<Snapshot>>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Replaces the shared unwinder after the module list changed. In frame-pointer mode
/// only the agent's own module gets DWARF rules; every other address falls back to
/// framehop's frame-pointer rule.
pub(crate) fn install(modules: Vec<LoadedModule>, mode: UnwindMode) {
    let own_address = ThreadUnwinder::capture as *const () as usize as u64;
    let mut unwinder = UnwinderX86_64::new();
    let mut own = 0..0;
    for module in modules {
        let is_own = module.record.ranges.iter().any(|r| r.contains(&own_address));
        if is_own {
            own = module.record.ranges.iter().map(|r| r.start).min().unwrap_or(0)
                ..module.record.ranges.iter().map(|r| r.end).max().unwrap_or(0);
        }
        if let Some(unwind) = module.unwind.filter(|_| is_own || mode == UnwindMode::Dwarf) {
            unwinder.add_module(unwind);
        }
    }
    let generation = GENERATION.load(Ordering::Relaxed) + 1;
    let snapshot = Arc::new(Snapshot { unwinder, own, generation });
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
    GENERATION.store(generation, Ordering::Release);
}

/// One thread's unwinding state.
pub(crate) struct ThreadUnwinder {
    snapshot: Option<Arc<Snapshot>>,
    cache: Box<CacheX86_64>,
    stack_top: u64,
}

impl ThreadUnwinder {
    pub(crate) fn new() -> Self {
        ThreadUnwinder { snapshot: None, cache: Box::new(CacheX86_64::new()), stack_top: stack_top() }
    }

    /// Picks up a newer snapshot if the modules changed; the rule cache is keyed by
    /// address, so it starts afresh with it.
    fn refresh(&mut self) {
        let latest = GENERATION.load(Ordering::Acquire);
        if self.snapshot.as_ref().is_some_and(|s| s.generation == latest) {
            return;
        }
        self.snapshot = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.cache = Box::new(CacheX86_64::new());
    }

    /// Fills `out` with return addresses, the caller of the hooked function first, and
    /// returns how many were written.
    #[inline(never)]
    pub(crate) fn capture(&mut self, out: &mut [u64]) -> usize {
        self.refresh();
        let (ip, sp, bp): (u64, u64, u64);
        // SAFETY: reads three registers into outputs; touches no memory or stack.
        unsafe {
            asm!("lea {ip}, [rip]", "mov {sp}, rsp", "mov {bp}, rbp",
                 ip = out(reg) ip, sp = out(reg) sp, bp = out(reg) bp,
                 options(nomem, nostack, preserves_flags));
        }
        let Some(snapshot) = self.snapshot.as_deref() else { return 0 };
        let top = self.stack_top;
        let mut read_stack = |addr: u64| {
            if addr >= sp && addr.wrapping_add(8) <= top && addr % 8 == 0 {
                // SAFETY: addr lies between this frame's stack pointer and the top of
                // this thread's stack, which is mapped and readable.
                Ok(unsafe { *(addr as *const u64) })
            } else {
                Err(())
            }
        };
        let regs = UnwindRegsX86_64::new(ip, sp, bp);
        let mut frames = snapshot.unwinder.iter_frames(ip, regs, &mut self.cache, &mut read_stack);
        let mut count = 0;
        while let Ok(Some(frame)) = frames.next() {
            let address = frame.address();
            if count == 0 && snapshot.own.contains(&address) {
                continue;
            }
            if count == out.len() {
                break;
            }
            out[count] = address;
            count += 1;
        }
        count
    }
}

/// The highest address of this thread's stack; reads above it would fault.
fn stack_top() -> u64 {
    // SAFETY: attr is initialised by pthread_getattr_np before use and destroyed after.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut base: *mut libc::c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let ok = libc::pthread_attr_getstack(&attr, &mut base, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok { base as u64 + size as u64 } else { 0 }
    }
}
