//! The recorder's entry points, called by the interposed allocation functions, and
//! the process lifecycle around them (start, exit, exec, fork, fatal signals).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use memscope_format::{EndReason, StackId, ThreadId};

use crate::buffer::{push_orphan, RawEvent, RawKind, ThreadBuffer};
use crate::config::{Config, UnwindMode};
use crate::guard::Guard;
use crate::stacks::StackCache;
use crate::thread_slot::{slot, ThreadSlot};
use crate::unwind::ThreadUnwinder;
use crate::{clock, modules, signals, unwind, writer};

const UNINIT: u8 = 0;
const STARTING: u8 = 1;
const RECORDING: u8 = 2;
const OFF: u8 = 3;
/// In a forked child: like OFF, and the parent's locks must not be touched either.
const FORKED: u8 = 4;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static MAX_FRAMES: AtomicUsize = AtomicUsize::new(64);
static FRAME_POINTERS: AtomicU8 = AtomicU8::new(0);

/// How long an orderly end (exit, exec) may wait for the writer to drain.
const END_TIMEOUT: Duration = Duration::from_secs(10);
/// A dying process waits less: the writer may be stuck on a lock the crash holds.
const CRASH_TIMEOUT: Duration = Duration::from_secs(2);

struct ThreadState {
    buffer: ThreadBuffer,
    unwinder: ThreadUnwinder,
    stacks: StackCache,
}

thread_local! {
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

/// Its destructor hands the thread's last events to the writer when the thread ends.
struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        // In a forked child, the buffers' locks may have been held by parent threads
        // that do not exist here: touch nothing.
        if STATE.load(Ordering::Acquire) == FORKED {
            return;
        }
        let _guard = Guard::enter();
        let slot = slot();
        let state = slot.state.replace(std::ptr::null_mut());
        slot.exited.set(true);
        if !state.is_null() {
            // SAFETY: created by Box::into_raw in `first_event` and unreachable now.
            let state = unsafe { Box::from_raw(state.cast::<ThreadState>()) };
            state.buffer.finish();
        }
    }
}

pub(crate) fn unwind_mode() -> UnwindMode {
    if FRAME_POINTERS.load(Ordering::Relaxed) == 1 {
        UnwindMode::FramePointer
    } else {
        UnwindMode::Dwarf
    }
}

/// Starts recording at the first hooked call, which may come from the dynamic loader
/// before any constructor ran: events are buffered until the writer exists.
#[inline]
fn recording() -> bool {
    match STATE.load(Ordering::Acquire) {
        RECORDING => true,
        UNINIT => start(),
        _ => false,
    }
}

#[cold]
fn start() -> bool {
    if STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return STATE.load(Ordering::Acquire) == RECORDING;
    }
    clock::start();
    unwind::install(modules::scan(), unwind_mode());
    STATE.store(RECORDING, Ordering::Release);
    true
}

/// The calling thread's state (`slot` is its slot), created on its first event; `None`
/// once the thread's thread-local destructors have run.
#[inline]
fn current_thread(slot: &ThreadSlot) -> Option<&'static mut ThreadState> {
    let state = slot.state.get().cast::<ThreadState>();
    if state.is_null() {
        return first_event(slot);
    }
    // SAFETY: the state belongs to this thread alone and lives until its destructor.
    Some(unsafe { &mut *state })
}

/// Creates the thread's state, unless the thread is past its thread-local destructors.
#[cold]
fn first_event(slot: &ThreadSlot) -> Option<&'static mut ThreadState> {
    if slot.exited.get() {
        return None;
    }
    let state = Box::into_raw(Box::new(ThreadState {
        buffer: ThreadBuffer::register(thread_id()),
        unwinder: ThreadUnwinder::new(),
        stacks: StackCache::new(),
    }));
    slot.state.set(state.cast());
    EXIT_HOOK.with(|_| ());
    // SAFETY: just created; it belongs to this thread alone until its destructor.
    Some(unsafe { &mut *state })
}

fn thread_id() -> ThreadId {
    // SAFETY: gettid has no preconditions.
    ThreadId(unsafe { libc::gettid() } as u32)
}

impl ThreadState {
    fn alloc(&mut self, ptr: usize, size: usize) {
        let depth = MAX_FRAMES.load(Ordering::Relaxed);
        let stack = self.unwinder.capture(&mut self.stacks, depth);
        // Taken after glibc returned the block: later than any free of the same address.
        let ticks = clock::ticks();
        self.push(RawEvent {
            ticks,
            ptr: ptr as u64,
            size: size as u64,
            stack,
            kind: RawKind::Alloc,
        });
    }

    #[inline(always)]
    fn push(&mut self, event: RawEvent) {
        self.buffer.push(event, writer::is_running());
    }
}

/// Records a free at `ticks`; frees need no stack.
/// `ticks` is read only once the free is known to be recorded: a process that is not
/// recording (or a `free(NULL)`) pays no clock read.
fn record_free_at(ptr: *mut c_void, ticks: impl FnOnce() -> u64) {
    if ptr.is_null() {
        return;
    }
    let Some(guard) = enter() else { return };
    let state = current_thread(guard.slot());
    let ticks = ticks();
    // Each branch builds its own event, so on the hot one its fields go straight from
    // registers into the buffer instead of through a copy on the stack.
    let free = |ticks| RawEvent {
        ticks,
        ptr: ptr as u64,
        size: 0,
        stack: StackId::NONE,
        kind: RawKind::Free,
    };
    match state {
        Some(state) => state.push(free(ticks)),
        None => push_orphan(thread_id(), free(ticks)),
    }
}

/// Enters the agent if it is recording and this thread is not already inside it.
fn enter() -> Option<Guard> {
    let guard = Guard::enter()?;
    recording().then_some(guard)
}

/// Records a successful allocation of `size` bytes at `ptr`.
pub fn record_alloc(ptr: *mut c_void, size: usize) {
    if ptr.is_null() {
        return;
    }
    let Some(guard) = enter() else { return };
    match current_thread(guard.slot()) {
        Some(state) => state.alloc(ptr as usize, size),
        None => {
            let event = RawEvent {
                ticks: clock::ticks(),
                ptr: ptr as u64,
                size: size as u64,
                stack: StackId::NONE,
                kind: RawKind::Alloc,
            };
            push_orphan(thread_id(), event);
        }
    }
}

/// Records the free of `ptr`. Call it before the memory goes back to glibc: its
/// timestamp must precede any reuse of the address by another thread.
pub fn record_free(ptr: *mut c_void) {
    record_free_at(ptr, clock::ticks);
}

/// Records `realloc(ptr, size)` with both nonzero as a free of the old block and an
/// allocation of the new one, as memcheck counts it. `real` performs the call. The
/// free is timestamped before the call (the old address may be reused at once) but
/// recorded only if the call succeeds: a failed realloc leaves the old block live.
pub fn record_realloc(
    ptr: *mut c_void,
    size: usize,
    real: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let ticks = clock::ticks();
    let new = real();
    if !new.is_null() {
        record_free_at(ptr, || ticks);
        record_alloc(new, size);
    }
    new
}

/// The preload library's constructor: reads the settings and starts the writer.
pub fn on_load() {
    let Some(_guard) = Guard::enter() else { return };
    if !recording() {
        return;
    }
    let Some(config) = Config::from_env() else {
        STATE.store(OFF, Ordering::Release);
        return;
    };
    MAX_FRAMES.store(config.max_frames, Ordering::Relaxed);
    FRAME_POINTERS.store(u8::from(config.unwind == UnwindMode::FramePointer), Ordering::Relaxed);
    // Libraries loaded after the first allocation are only in a fresh scan.
    unwind::install(modules::scan(), config.unwind);
    match writer::start(&config) {
        Ok(()) => signals::install(),
        Err(err) => {
            eprintln!("memscope: {err}; not recording");
            STATE.store(OFF, Ordering::Release);
        }
    }
}

/// Ends the recording for good: the process is exiting or dying.
pub(crate) fn end(reason: EndReason) {
    let timeout = if matches!(reason, EndReason::Signal(_)) { CRASH_TIMEOUT } else { END_TIMEOUT };
    let _guard = Guard::enter();
    writer::finish(reason, timeout);
    STATE.store(OFF, Ordering::Release);
}

/// The preload library's destructor, run by `exit`.
pub fn on_unload() {
    end(EndReason::Exit);
}

/// Called from the `_exit` and `_Exit` hooks, which skip destructors.
pub fn before_immediate_exit() {
    end(EndReason::ImmediateExit);
}

/// Called before `exec`: the current image's trace is completed. If exec fails the
/// process goes on, and so does the recording.
pub fn before_exec() {
    let _guard = Guard::enter();
    writer::finish(EndReason::Exec, END_TIMEOUT);
}

/// Called after `dlopen` and `dlclose`, so stacks through new code unwind at once.
pub fn modules_changed() {
    let Some(_guard) = enter() else { return };
    unwind::install(modules::scan(), unwind_mode());
}

/// In a forked child: the writer thread does not exist there, and the child's
/// allocations must not land in the parent's trace.
pub(crate) fn stop_in_child() {
    STATE.store(FORKED, Ordering::Release);
    writer::forget();
}
