//! The recorder's entry points, called by the interposed allocation functions, and
//! the process lifecycle around them (start, exit, exec, fork, fatal signals).

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use memscope_format::{EndReason, Event, EventKind, StackId, ThreadId};

use crate::buffer::{push_orphan, ThreadBuffer};
use crate::config::{Config, UnwindMode, FRAMES_LIMIT};
use crate::guard::Guard;
use crate::live::{self, LiveBlock};
use crate::stacks::{self, StackCache};
use crate::unwind::ThreadUnwinder;
use crate::{clock, modules, signals, unwind, writer};

const UNINIT: u8 = 0;
const STARTING: u8 = 1;
const RECORDING: u8 = 2;
const OFF: u8 = 3;

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
    /// This thread's most recent allocation, for spotting temporaries.
    last_alloc: usize,
}

thread_local! {
    static CURRENT: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
    static EXITED: Cell<bool> = const { Cell::new(false) };
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

/// Its destructor hands the thread's last events to the writer when the thread ends.
struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        let _guard = Guard::enter();
        let state = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
        EXITED.with(|e| e.set(true));
        if !state.is_null() {
            // SAFETY: created by Box::into_raw in `current_thread` and unreachable now.
            let state = unsafe { Box::from_raw(state) };
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
fn recording() -> bool {
    match STATE.load(Ordering::Acquire) {
        RECORDING => true,
        UNINIT => start(),
        _ => false,
    }
}

fn start() -> bool {
    if STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return STATE.load(Ordering::Acquire) == RECORDING;
    }
    clock::start();
    unwind::install(modules::scan(), unwind_mode());
    STATE.store(RECORDING, Ordering::Release);
    true
}

/// The calling thread's state, created on its first event; `None` once the thread's
/// thread-local destructors have run.
fn current_thread() -> Option<&'static mut ThreadState> {
    let mut state = CURRENT.with(Cell::get);
    if state.is_null() {
        if EXITED.with(Cell::get) {
            return None;
        }
        let thread = thread_id();
        state = Box::into_raw(Box::new(ThreadState {
            buffer: ThreadBuffer::register(thread),
            unwinder: ThreadUnwinder::new(),
            stacks: StackCache::new(),
            last_alloc: 0,
        }));
        CURRENT.with(|c| c.set(state));
        EXIT_HOOK.with(|_| ());
    }
    // SAFETY: the state belongs to this thread alone and lives until its destructor.
    Some(unsafe { &mut *state })
}

fn thread_id() -> ThreadId {
    // SAFETY: gettid has no preconditions.
    ThreadId(unsafe { libc::gettid() } as u32)
}

impl ThreadState {
    fn alloc(&mut self, ptr: usize, size: usize) {
        let mut frames = [0u64; FRAMES_LIMIT];
        let depth = MAX_FRAMES.load(Ordering::Relaxed);
        let count = self.unwinder.capture(&mut frames[..depth]);
        let stack = stacks::intern(&frames[..count], &mut self.stacks);
        // Time is taken before the block becomes visible to other threads' frees, so
        // a free is never earlier than the allocation it frees.
        let time_ns = clock::now_ns();
        live::insert(ptr, LiveBlock { size: size as u64, stack });
        self.last_alloc = ptr;
        self.push(Event { time_ns, size: size as u64, stack, kind: EventKind::Alloc });
    }

    fn free(&mut self, ptr: usize, block: LiveBlock) {
        let kind = if self.last_alloc == ptr {
            self.last_alloc = 0;
            EventKind::FreeTemporary
        } else {
            EventKind::Free
        };
        self.push(Event { time_ns: clock::now_ns(), size: block.size, stack: block.stack, kind });
    }

    fn push(&mut self, event: Event) {
        self.buffer.push(event, writer::is_running());
    }
}

fn orphan_alloc(ptr: usize, size: usize) {
    let time_ns = clock::now_ns();
    live::insert(ptr, LiveBlock { size: size as u64, stack: StackId::NONE });
    push_orphan(thread_id(), Event { time_ns, size: size as u64, stack: StackId::NONE, kind: EventKind::Alloc });
}

fn orphan_free(block: LiveBlock) {
    let event = Event { time_ns: clock::now_ns(), size: block.size, stack: block.stack, kind: EventKind::Free };
    push_orphan(thread_id(), event);
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
    let Some(_guard) = enter() else { return };
    match current_thread() {
        Some(state) => state.alloc(ptr as usize, size),
        None => orphan_alloc(ptr as usize, size),
    }
}

/// Records the free of `ptr`; call it before the memory is released, so that no other
/// thread can be handed the same address while it is still in the live table.
pub fn record_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let Some(_guard) = enter() else { return };
    let Some(block) = live::remove(ptr as usize) else { return };
    match current_thread() {
        Some(state) => state.free(ptr as usize, block),
        None => orphan_free(block),
    }
}

/// Records `realloc(ptr, size)` with both nonzero as a free of the old block and an
/// allocation of the new one, as memcheck counts it. `real` performs the call.
pub fn record_realloc(ptr: *mut c_void, size: usize, real: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let old = enter().and_then(|_guard| live::remove(ptr as usize));
    let new = real();
    if new.is_null() {
        // The old block is still the program's.
        if let Some(block) = old {
            live::insert(ptr as usize, block);
        }
        return new;
    }
    if let Some(block) = old {
        if let Some(_guard) = enter() {
            match current_thread() {
                Some(state) => state.free(ptr as usize, block),
                None => orphan_free(block),
            }
        }
    }
    record_alloc(new, size);
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
    STATE.store(OFF, Ordering::Release);
    writer::forget();
}
