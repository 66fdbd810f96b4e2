//! The recorder's entry points, called by the interposed allocation functions, and
//! the process lifecycle around them (start, exit, exec, fork, fatal signals).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memscope_format::{EndReason, StackId, ThreadId};

use crate::buffer::{push_orphan, RawEvent, RawKind, ThreadBuffer};
use crate::config::{Config, UnwindMode};
use crate::guard::Guard;
use crate::live_table::{self, Block, LiveTable};
use crate::pairing::{self, Pairing};
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
/// Recording, with one thread, whose frees the writer pairs (see `pairing`).
const SOLO: u8 = 5;

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
    /// The blocks this thread allocated and nobody freed yet.
    table: Arc<LiveTable>,
    /// `None` while the writer pairs for this (solo) thread.
    pairing: Option<Pairing>,
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
            let mut state = unsafe { Box::from_raw(state.cast::<ThreadState>()) };
            if state.pairing.is_none() {
                state.take_pairing_back();
            }
            live_table::retire(&state.table);
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
        RECORDING | SOLO => true,
        UNINIT => start(),
        _ => false,
    }
}

#[cold]
fn start() -> bool {
    if STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return matches!(STATE.load(Ordering::Acquire), RECORDING | SOLO);
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
    let table = live_table::register();
    let state = Box::into_raw(Box::new(ThreadState {
        buffer: ThreadBuffer::register(thread_id()),
        unwinder: ThreadUnwinder::new(),
        stacks: StackCache::new(),
        table: table.clone(),
        pairing: Some(Pairing::new(table)),
    }));
    // A second thread: from now on every thread pairs for itself.
    let _ = STATE.compare_exchange(SOLO, RECORDING, Ordering::AcqRel, Ordering::Acquire);
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
    fn alloc(&mut self, ptr: u64, size: usize) {
        if let Some(pairing) = &self.pairing {
            // The table's slot loads while the stack is captured.
            pairing.table.prefetch(ptr);
        }
        let depth = MAX_FRAMES.load(Ordering::Relaxed);
        let stack = self.unwinder.capture(&mut self.stacks, depth);
        let block = Block { size: size as u64, stack };
        match self.pairing() {
            Some(pairing) => {
                pairing.alloc(ptr, block);
                self.push(event(block, RawKind::Alloc));
            }
            None => {
                let address = solo_event(ptr, RawKind::Address);
                let writer_running = writer::is_running();
                self.buffer.push_pair(event(block, RawKind::SoloAlloc), address, writer_running);
            }
        }
    }

    fn free(&mut self, ptr: u64) {
        let freed = match self.pairing() {
            Some(pairing) => pairing.free(ptr, pairing::claim_waiting),
            None => return self.push(solo_event(ptr, RawKind::SoloFree)),
        };
        if let Some((block, kind)) = freed {
            self.push(event(block, kind.into()));
        }
    }

    /// The old block is taken before the call (glibc may give its address to another
    /// thread at once) and put back if the call fails.
    fn realloc(
        &mut self,
        ptr: u64,
        size: usize,
        real: impl FnOnce() -> *mut c_void,
    ) -> *mut c_void {
        let Some(pairing) = self.pairing() else {
            let new = real();
            if !new.is_null() {
                self.push(solo_event(ptr, RawKind::SoloFree));
                self.alloc(new as u64, size);
            }
            return new;
        };
        let old = pairing.free(ptr, pairing::claim_waiting);
        let new = real();
        match (old, new.is_null()) {
            (Some((block, _)), true) => pairing.table.insert(ptr, block),
            (old, false) => {
                if let Some((block, kind)) = old {
                    self.push(event(block, kind.into()));
                }
                self.alloc(new as u64, size);
            }
            (None, true) => {}
        }
        new
    }

    /// The thread's pairing, or `None` while the process is solo and the writer pairs
    /// for it.
    #[inline]
    fn pairing(&mut self) -> Option<&mut Pairing> {
        if self.pairing.is_none() && STATE.load(Ordering::Acquire) != SOLO {
            self.take_pairing_back();
        }
        self.pairing.as_mut()
    }

    /// Takes the pairing back from the writer, once it has paired all this thread sent.
    #[cold]
    fn take_pairing_back(&mut self) {
        writer::sync();
        let table = self.table.clone();
        self.pairing = Some(pairing::take_back().unwrap_or_else(|| Pairing::new(table)));
    }

    #[inline(always)]
    fn push(&mut self, event: RawEvent) {
        self.buffer.push(event, writer::is_running());
    }
}

/// An event of `block`, timed now.
#[inline(always)]
fn event(block: Block, kind: RawKind) -> RawEvent {
    RawEvent { time_ns: clock::event_ns(), size: block.size, stack: block.stack, kind }
}

/// An event about the address `ptr`, for the writer to pair.
#[inline(always)]
fn solo_event(ptr: u64, kind: RawKind) -> RawEvent {
    event(Block { size: ptr, stack: StackId::NONE }, kind)
}

/// Enters the agent if it is recording and this thread is not already inside it.
#[inline]
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
        Some(state) => state.alloc(ptr as u64, size),
        None => alloc_unowned(ptr as u64, size),
    }
}

/// An allocation by a thread past its thread-local destructors: no stack, no table of
/// its own.
#[cold]
fn alloc_unowned(ptr: u64, size: usize) {
    let block = Block { size: size as u64, stack: StackId::NONE };
    live_table::insert_unowned(ptr, block);
    push_orphan(thread_id(), event(block, RawKind::Alloc));
}

/// For a thread past its thread-local destructors: takes the block at `ptr`, which is
/// another thread's (or counts a free of memory no table held).
#[cold]
fn claim_unowned(ptr: u64) -> Option<Block> {
    let block = pairing::claim_waiting(ptr, None).map(|(block, _)| block);
    if block.is_none() {
        live_table::count_untracked();
    }
    block
}

/// Records the free of a block taken by [`claim_unowned`].
#[cold]
fn free_unowned(block: Block) {
    push_orphan(thread_id(), event(block, RawKind::Free));
}

/// Records the free of `ptr`. Call it before the memory goes back to glibc, which may
/// hand the address to another thread at once.
pub fn record_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let Some(guard) = enter() else { return };
    match current_thread(guard.slot()) {
        Some(state) => state.free(ptr as u64),
        None => {
            if let Some(block) = claim_unowned(ptr as u64) {
                free_unowned(block);
            }
        }
    }
}

/// Records `realloc(ptr, size)` with both nonzero as a free of the old block and an
/// allocation of the new one, as memcheck counts it. `real` performs the call. A
/// failed realloc leaves the old block live.
pub fn record_realloc(
    ptr: *mut c_void,
    size: usize,
    real: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let Some(guard) = enter() else { return real() };
    if let Some(state) = current_thread(guard.slot()) {
        return state.realloc(ptr as u64, size, real);
    }
    // As for a thread with state: taken before the call, recorded only if it succeeds.
    let old = claim_unowned(ptr as u64);
    let new = real();
    match (old, new.is_null()) {
        (Some(block), true) => live_table::insert_unowned(ptr as u64, block),
        (old, false) => {
            if let Some(block) = old {
                free_unowned(block);
            }
            alloc_unowned(new as u64, size);
        }
        (None, true) => {}
    }
    new
}

/// Called before a thread is created: a solo process stops being solo, and its thread
/// takes back its pairing before the new thread can free anything.
pub fn before_thread_start() {
    let Some(guard) = enter() else { return };
    if STATE.compare_exchange(SOLO, RECORDING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        if let Some(state) = current_thread(guard.slot()) {
            state.pairing();
        }
    }
}

/// Lets the writer pair the calling thread's frees while it is the only thread. Called
/// once the writer runs: the process then has these two threads, unless a library's
/// constructor started one before ours ran (it may not have allocated yet).
fn go_solo(slot: &ThreadSlot) {
    if threads_in_process() != Some(2) {
        return;
    }
    let Some(state) = current_thread(slot) else { return };
    let mut lent = state.pairing.take();
    live_table::while_alone(&state.table, || {
        if let Some(pairing) = lent.take() {
            pairing::lend_to_writer(pairing);
            STATE.store(SOLO, Ordering::Release);
        }
    });
    state.pairing = lent;
}

/// The process's thread count, from /proc/self/stat.
fn threads_in_process() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the 3rd, state;
    // num_threads is the 20th.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(17)?.parse().ok()
}

/// The preload library's constructor: reads the settings and starts the writer.
pub fn on_load() {
    let Some(guard) = Guard::enter() else { return };
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
        Ok(()) => {
            signals::install();
            go_solo(guard.slot());
        }
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
