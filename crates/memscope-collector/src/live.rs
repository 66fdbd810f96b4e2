//! What a running recording holds right now, for the live endpoint: per-stack totals of
//! the four sample types, the stacks and modules to symbolize them, the headline
//! numbers and the heap's local highs. It is taken on the trace's writing thread, in
//! order with the events, so it is exactly the state after the events written so far.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use memscope_format::{Meta, Module, StackDef, StackTotals};

use crate::trace_thread::Message;

/// Stack definitions, shared between the writing thread (which appends) and the
/// snapshots (which read the first `len`): snapshots never copy the frames.
pub type SharedStacks = Arc<Mutex<Vec<StackDef>>>;

/// The state of a recording at a moment.
#[derive(Clone, Debug)]
pub struct LiveSnapshot {
    /// Who is recorded.
    pub meta: Meta,
    /// When, nanoseconds since the recording started.
    pub time_ns: u64,
    /// Every stack's totals so far (stacks that never allocated are left out).
    pub totals: Vec<StackTotals>,
    /// Every stack defined so far: the first `stack_count` of these.
    pub stacks: SharedStacks,
    /// How many of `stacks` this snapshot covers.
    pub stack_count: usize,
    /// The module map.
    pub modules: Vec<Module>,
    /// Frees so far, and how many were temporary.
    pub frees: u64,
    /// Frees that were temporary.
    pub temporary: u64,
    /// Threads that allocated or freed.
    pub threads: u64,
    /// The highest live heap so far (as far as the heap curve was read), and when.
    pub peak_bytes: u64,
    /// When the peak was first reached, nanoseconds.
    pub peak_time_ns: u64,
    /// The latest resident set sample, and the highest, bytes.
    pub rss_bytes: u64,
    /// The highest resident set sampled.
    pub peak_rss_bytes: u64,
    /// The heap's local highs: one per window of [`HIGHS_WINDOW_NS`] that saw events.
    pub highs: Vec<LocalHigh>,
}

/// The highest live heap inside one window of time.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalHigh {
    /// Where the window starts, nanoseconds.
    pub window_ns: u64,
    /// The highest live bytes inside it.
    pub bytes: u64,
    /// When it was reached.
    pub time_ns: u64,
}

/// The width of the windows of [`LiveSnapshot::highs`]: 100 ms, as `memscope timeline`.
pub const HIGHS_WINDOW_NS: u64 = 100_000_000;

impl LiveSnapshot {
    /// Live bytes and blocks now.
    pub fn live(&self) -> (u64, u64) {
        self.totals.iter().fold((0, 0), |(bytes, blocks), t| {
            (bytes.wrapping_add(t.live_bytes), blocks.wrapping_add(t.live_blocks))
        })
    }

    /// Allocations and bytes allocated so far.
    pub fn allocated(&self) -> (u64, u64) {
        self.totals
            .iter()
            .fold((0, 0), |(count, bytes), t| (count + t.alloc_blocks, bytes + t.alloc_bytes))
    }

    /// The stack definitions this snapshot covers.
    pub fn stack_defs(&self) -> Vec<StackDef> {
        let stacks = self.stacks.lock().unwrap_or_else(PoisonError::into_inner);
        stacks[..self.stack_count.min(stacks.len())].to_vec()
    }
}

/// A way to ask a recording for its [`LiveSnapshot`] from another thread.
#[derive(Clone)]
pub struct LiveHandle {
    pub(crate) to_writer: SyncSender<Message>,
    pub(crate) freshness: Arc<Freshness>,
}

/// Snapshots asked for, and served: between its sweeps the collector reads only the
/// chunks threads have filled, and holds events back in batches; a snapshot must see
/// every event published before it was asked for.
#[derive(Default)]
pub(crate) struct Freshness {
    /// Snapshots asked for so far.
    pub asked: AtomicU64,
    /// The asks up to which the collector has read everything published and handed it
    /// to the writing thread.
    pub caught_up: AtomicU64,
}

/// How long a snapshot may take before the asker gives up (the writing thread is busy
/// with a backlog).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

impl LiveHandle {
    /// The state now: after every event published before the call. `None` if the
    /// recording has ended.
    pub fn snapshot(&self) -> Option<LiveSnapshot> {
        let ask = self.freshness.asked.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = std::time::Instant::now() + SNAPSHOT_TIMEOUT;
        while self.freshness.caught_up.load(Ordering::Acquire) < ask {
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.snapshot_written()
    }

    /// The state after the events handed to the writing thread so far.
    pub(crate) fn snapshot_written(&self) -> Option<LiveSnapshot> {
        let (reply, answer) = mpsc::channel();
        self.to_writer.send(Message::Snapshot(reply)).ok()?;
        answer.recv_timeout(SNAPSHOT_TIMEOUT).ok()
    }
}

/// The recording the endpoint serves: the program's current image, which changes when
/// it execs. A request can come before the collector has read the program's first
/// record (the program may print "ready" within the collector's idle sleep) or between
/// an exec's two images; it then waits for the recording instead of being refused.
#[derive(Clone, Default)]
pub struct CurrentLive(Arc<Mutex<LiveState>>);

#[derive(Clone, Default)]
enum LiveState {
    /// The program runs, but its recording has not been read yet.
    #[default]
    Starting,
    Recording(LiveHandle),
    /// The program is gone.
    Ended,
}

impl CurrentLive {
    /// Points at `handle`; `None`: the program's recording is yet to come.
    pub fn set(&self, handle: Option<LiveHandle>) {
        *self.lock() = handle.map_or(LiveState::Starting, LiveState::Recording);
    }

    /// The program is gone: snapshots are refused from now on.
    pub fn end(&self) {
        *self.lock() = LiveState::Ended;
    }

    /// Whether a recording is being read.
    pub fn is_recording(&self) -> bool {
        matches!(*self.lock(), LiveState::Recording(_))
    }

    /// The state now: after every event published before the call. While the
    /// recording is starting this waits for it, as long as a snapshot may take. `None`
    /// once the program is gone, or if its recording never came.
    pub fn snapshot(&self) -> Option<LiveSnapshot> {
        let deadline = std::time::Instant::now() + SNAPSHOT_TIMEOUT;
        loop {
            let state = self.lock().clone();
            match state {
                LiveState::Recording(handle) => return handle.snapshot(),
                LiveState::Ended => return None,
                LiveState::Starting if std::time::Instant::now() > deadline => return None,
                LiveState::Starting => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
