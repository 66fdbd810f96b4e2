//! The trace's writing, on a thread of its own: a collector that pairs events and
//! writes them on one thread could not keep up with a program whose threads allocate
//! on every core, so pairing (the image's thread) and counting, encoding and
//! compressing (this one) run side by side. Messages keep their order, so the trace is
//! what one thread would have written.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use memscope_format::{End, Event, Meta, Module, RssSample, StackDef, ThreadId};

use crate::destination::Destination;
use crate::live::{Freshness, LiveHandle, LiveSnapshot};
use crate::trace_out::TraceOut;

/// Batches in flight to the writing thread at most: past it, the image waits (and so,
/// once the capture area is full, does the program).
const IN_FLIGHT: usize = 32;

/// What the writing thread is asked to do, in order.
pub(crate) enum Message {
    Stack(StackDef),
    Modules(Vec<Module>),
    Rss(RssSample),
    /// One thread's batch, and the clock (a segment opened before it is stamped so).
    Events(ThreadId, Vec<Event>, u64),
    /// The collector's clock, and the time up to which the heap curve can be read: no
    /// event before it can come any more.
    CloseCurve {
        clock_ns: u64,
        horizon_ns: u64,
    },
    Finish(End),
    /// The state after every event written so far.
    Snapshot(Sender<LiveSnapshot>),
}

/// The thread writing one image's trace.
pub(crate) struct TraceThread {
    to_writer: SyncSender<Message>,
    /// Snapshots asked for, which the image catches up with.
    pub(crate) freshness: std::sync::Arc<Freshness>,
    /// Written batches come back empty, for reuse.
    spent: Receiver<Vec<Event>>,
    thread: JoinHandle<Option<String>>,
}

impl TraceThread {
    /// Starts writing the trace of `meta` at `destination`.
    pub(crate) fn start(destination: Destination, meta: Meta) -> TraceThread {
        let (to_writer, messages) = mpsc::sync_channel(IN_FLIGHT);
        let (give_back, spent) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memscope-writer".into())
            .spawn(move || {
                // In a program that records itself (the Rust library), this thread's
                // own allocations are not the program's.
                memscope_agent::ignore_current_thread();
                write(TraceOut::create(destination, &meta), messages, give_back)
            })
            .expect("start the trace writing thread");
        TraceThread { to_writer, freshness: Default::default(), spent, thread }
    }

    fn send(&self, message: Message) {
        // The thread ends only on Finish or a panic, which `finish` reports.
        let _ = self.to_writer.send(message);
    }

    /// A new stack definition, written before the next events.
    pub(crate) fn define_stack(&self, def: StackDef) {
        self.send(Message::Stack(def));
    }

    /// The module map changed.
    pub(crate) fn set_modules(&self, modules: Vec<Module>) {
        self.send(Message::Modules(modules));
    }

    /// A resident-memory sample.
    pub(crate) fn push_rss(&self, sample: RssSample) {
        self.send(Message::Rss(sample));
    }

    /// One thread's batch of events, oldest first; `batch` is left empty (with room).
    pub(crate) fn write_events(&self, thread: ThreadId, batch: &mut Vec<Event>, now_ns: u64) {
        let room = self.spent.try_recv().unwrap_or_else(|_| Vec::with_capacity(batch.capacity()));
        self.send(Message::Events(thread, std::mem::replace(batch, room), now_ns));
    }

    /// A handle for taking snapshots from another thread.
    pub(crate) fn live_handle(&self) -> LiveHandle {
        LiveHandle { to_writer: self.to_writer.clone(), freshness: self.freshness.clone() }
    }

    /// The clock is at `clock_ns`, and no event older than `horizon_ns` can come any more.
    pub(crate) fn close_curve(&self, clock_ns: u64, horizon_ns: u64) {
        self.send(Message::CloseCurve { clock_ns, horizon_ns });
    }

    /// Writes the end record and waits for the thread; the write error, if any.
    pub(crate) fn finish(self, end: End) -> Option<String> {
        self.send(Message::Finish(end));
        drop(self.to_writer);
        self.thread.join().unwrap_or_else(|_| Some("the trace writing thread panicked".into()))
    }
}

fn write(
    mut out: TraceOut,
    messages: Receiver<Message>,
    give_back: mpsc::Sender<Vec<Event>>,
) -> Option<String> {
    for message in messages {
        match message {
            Message::Stack(def) => out.define_stack(def),
            Message::Modules(modules) => out.set_modules(modules),
            Message::Rss(sample) => out.push_rss(sample),
            Message::Events(thread, mut events, now_ns) => {
                out.write_events(thread, &mut events, now_ns);
                out.flush_rss();
                events.clear();
                let _ = give_back.send(events);
            }
            Message::CloseCurve { clock_ns, horizon_ns } => {
                out.clock_ns = clock_ns;
                out.curve.close_before(horizon_ns);
            }
            Message::Finish(end) => {
                out.finish(end);
                break;
            }
            Message::Snapshot(reply) => {
                let _ = reply.send(out.live_snapshot());
            }
        }
    }
    out.error.clone()
}
