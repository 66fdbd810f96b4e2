//! The recorder's entry points, called by the interposed allocation functions, and the
//! process lifecycle around them (start, exit, exec, fork).
//!
//! A hooked call captures its stack, then publishes one event into the calling thread's
//! chain of chunks in the capture area (see `area`). Nothing else happens in the host:
//! pairing, totals, compression and the file are the collector's, in another process.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::area::{
    self, Area, Kind, Reserved, ThreadRecord, AREA_BYTES, LOG_BYTES, SLOT_SIZE_LIMIT,
};
use crate::config::{Config, Follow, UnwindMode};
use crate::control::{self, MetaRecord};
use crate::heap;
use crate::spin::SpinLock;
use crate::stacks::{self, StackCache};
use crate::unwind::{self, ThreadUnwinder};
use crate::{modules, sampling, sys, tags, thread};

const UNINIT: u8 = 0;
const STARTING: u8 = 1;
const RECORDING: u8 = 2;
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static AREA: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// Set once the process may have a second thread: stripe counters then take a locked
/// add (see `area`).
static THREADED: AtomicBool = AtomicBool::new(false);
static MAX_FRAMES: AtomicUsize = AtomicUsize::new(64);
static FRAME_POINTERS: AtomicBool = AtomicBool::new(false);
static FOLLOW_FORKS: AtomicBool = AtomicBool::new(false);
/// The loader's load/unload count when the module map was last read.
static LOADER_GENERATION: AtomicU64 = AtomicU64::new(u64::MAX);
/// Serialises appends to the area's log.
static LOG: SpinLock<()> = SpinLock::new(());
/// Serialises rescans of the module map.
static MODULE_SCAN: SpinLock<()> = SpinLock::new(());
static ATFORK_REGISTERED: AtomicBool = AtomicBool::new(false);

/// How long a recorder waits for a collector that has not attached, or went silent,
/// before it stops recording.
const COLLECTOR_TIMEOUT_NS: u64 = 5_000_000_000;
/// How long a thread sleeps while it waits for room in the area.
const ROOM_WAIT_US: u64 = 50;

/// One thread's own state, created at its first event: its unwinding state, owner tag
/// and the name last logged.
struct Unwinding {
    unwinder: ThreadUnwinder,
    stacks: StackCache,
    /// The owner tag the thread's allocations get (0: none).
    tag: u32,
    /// The thread's name as last logged for the collector (all zero: not yet).
    name: [u8; 16],
}

#[inline(always)]
fn current_area() -> Area {
    // SAFETY: AREA is set before STATE becomes RECORDING and stays mapped while it is.
    unsafe { Area::from_raw(AREA.load(Ordering::Acquire)) }
}

/// The area, if recording; the first hooked call of the process starts the recorder.
#[inline(always)]
fn recording() -> Option<Area> {
    match STATE.load(Ordering::Acquire) {
        RECORDING => Some(current_area()),
        UNINIT => start(),
        _ => None,
    }
}

#[cold]
fn start() -> Option<Area> {
    if STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return (STATE.load(Ordering::Acquire) == RECORDING).then(current_area);
    }
    let area = begin();
    STATE.store(if area.is_some() { RECORDING } else { OFF }, Ordering::Release);
    area
}

/// Reads the settings, creates the area and describes the process in its log.
fn begin() -> Option<Area> {
    let config = sys::read_file(c"/proc/self/environ").and_then(|env| Config::parse(&env))?;
    if config.follow == Follow::None && sys::getppid() != config.parent {
        return None;
    }
    FOLLOW_FORKS.store(config.follow == Follow::Fork, Ordering::Relaxed);
    let area = match create_area(&config.session) {
        Ok(area) => area,
        Err(errno) => {
            let code = alloc::format!("{errno}");
            sys::complain(&[
                b"memscope: cannot create the capture area (errno ",
                code.as_bytes(),
                b"); not recording",
            ]);
            return None;
        }
    };
    let settings = Settings {
        max_frames: config.max_frames,
        unwind: config.unwind,
        sample_rate: config.sample_rate,
        sample_seed: config.sample_seed,
    };
    describe(area, &settings).then_some(area)
}

/// How the recorder records, whoever starts it.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The deepest stack captured (1 to 256).
    pub max_frames: usize,
    /// How stacks are captured.
    pub unwind: UnwindMode,
    /// Mean bytes between samples (0: every allocation).
    pub sample_rate: u64,
    /// Seeds the sampling (`None`: the clock).
    pub sample_seed: Option<u64>,
}

/// Makes `area` the one events go to, with `settings`, and describes the process in its
/// log (meta record, module map).
fn describe(area: Area, settings: &Settings) -> bool {
    MAX_FRAMES.store(settings.max_frames.clamp(1, crate::config::FRAMES_LIMIT), Ordering::Relaxed);
    FRAME_POINTERS.store(settings.unwind == UnwindMode::FramePointer, Ordering::Relaxed);
    if !thread::create_key(thread_ended) {
        sys::complain(&[b"memscope: cannot create a thread key; not recording"]);
        return false;
    }
    let seed = settings.sample_seed.unwrap_or_else(sys::monotonic_ns);
    if !sampling::configure(settings.sample_rate, seed) {
        sys::complain(&[
            b"memscope: cannot map the table of sampled blocks; recording every allocation",
        ]);
    }
    area.header().sample_rate.store(sampling::rate(), Ordering::Relaxed);
    AREA.store(area.base(), Ordering::Release);
    let (kind, meta) = control::encode_meta(&meta(settings));
    append(&area, kind, &[&meta]);
    refresh_modules(&area, true);
    if !ATFORK_REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers a child handler; glibc calls it in the child after fork.
        unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
    }
    true
}

/// Starts recording into the area at `base`, for a recorder linked into the program
/// (the `memscope` Rust library) rather than preloaded. Its collector runs in the same
/// process and reads the same memory. Returns false if recording already started (or
/// cannot start).
///
/// # Safety
/// `base` points to [`AREA_BYTES`] of zeroed, page-aligned memory that stays mapped for
/// the rest of the process.
pub unsafe fn start_embedded(base: *mut u8, settings: &Settings) -> bool {
    if STATE.compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    let area = Area::from_raw(base);
    area.initialise(sys::getpid(), sys::monotonic_ns(), sys::unix_ms());
    EMBEDDED.store(true, Ordering::Relaxed);
    let started = describe(area, settings);
    STATE.store(if started { RECORDING } else { OFF }, Ordering::Release);
    started
}

/// The id of owner tag `name`, defined (in the module map) at first use; `None` if
/// nothing is recorded.
pub fn tag_id(name: &str) -> Option<u32> {
    if STATE.load(Ordering::Acquire) != RECORDING {
        return None;
    }
    let area = current_area();
    let (id, new) = tags::id_of(name);
    if let Some(module) = new {
        let _held = MODULE_SCAN.lock();
        modules::add_pseudo(module);
        let (kind, payload) = control::encode_modules(&modules::seen());
        append(&area, kind, &[&payload]);
    }
    Some(id)
}

/// Gives the calling thread's next allocations owner tag `id` (0: none); returns the
/// tag it had.
pub fn set_thread_tag(id: u32) -> u32 {
    if STATE.load(Ordering::Acquire) != RECORDING {
        return 0;
    }
    let area = current_area();
    let Some(record) = thread_record(&area) else { return 0 };
    match unwinding(&area, record) {
        Some(unwinding) => core::mem::replace(&mut unwinding.tag, id),
        None => 0,
    }
}

/// Makes the calling thread's allocations go unrecorded: a collector or server thread
/// running inside the program it records.
pub fn ignore_current_thread() {
    // Never starts a recorder: the collector's own process has none to ignore.
    if STATE.load(Ordering::Acquire) == RECORDING {
        let area = current_area();
        if let Some(record) = thread_record(&area) {
            record.ignored.store(1, Ordering::Relaxed);
        }
    }
}

fn meta(settings: &Settings) -> MetaRecord {
    let exe =
        alloc::string::String::from_utf8_lossy(&sys::read_link(c"/proc/self/exe")).into_owned();
    let cmdline = sys::read_file(c"/proc/self/cmdline").unwrap_or_default();
    let args = cmdline
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| alloc::string::String::from_utf8_lossy(arg).into_owned())
        .collect();
    MetaRecord {
        exe,
        args,
        unwind: settings.unwind.name().into(),
        max_frames: settings.max_frames as u32,
    }
}

/// Takes one of the spare areas the collector keeps in the session directory and names
/// it `SESSION/PID.N` (the first N not taken: earlier images of this process took the
/// others), then maps it. The collector made and sized the file: sizing it here would
/// count against the program's file size limit, and could raise SIGXFSZ in it. The
/// descriptor is closed at once, so the program's own descriptor calls can never reach
/// the mapping.
fn create_area(session: &[u8]) -> Result<Area, i32> {
    let pid = sys::getpid();
    let path = |name: &[u8]| {
        let mut path = session.to_vec();
        path.push(b'/');
        path.extend_from_slice(name);
        path.push(0);
        path
    };
    let deadline = sys::monotonic_ns() + SPARE_WAIT_NS;
    let mut image = 0u32;
    loop {
        let spares: Vec<Vec<u8>> = sys::list_dir(cstr(&path(b"")))
            .into_iter()
            .filter(|n| n.starts_with(b"spare."))
            .collect();
        for spare in spares {
            loop {
                let name = path(alloc::format!("{pid}.{image}").as_bytes());
                match rename_new(&path(&spare), &name) {
                    Ok(()) => return map_area(&name, pid),
                    Err(libc::EEXIST) => image += 1,
                    Err(_) => break,
                }
            }
        }
        if sys::monotonic_ns() > deadline {
            return Err(libc::ENOENT);
        }
        sys::sleep_us(1000);
    }
}

/// How long a new process waits for the collector to make a spare area.
const SPARE_WAIT_NS: u64 = 2_000_000_000;

fn cstr(bytes: &[u8]) -> &core::ffi::CStr {
    core::ffi::CStr::from_bytes_until_nul(bytes).unwrap_or(c"")
}

/// Renames `from` to `to` unless `to` exists.
fn rename_new(from: &[u8], to: &[u8]) -> Result<(), i32> {
    // SAFETY: two NUL-terminated paths.
    let result = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    }
}

fn map_area(path: &[u8], pid: u32) -> Result<Area, i32> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return Err(sys::errno());
    }
    // SAFETY: fstat fills the struct it is given; all-zero is a valid stat.
    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fd is open; a file shorter than an area would fault when touched.
    if unsafe { libc::fstat(fd, &mut stat) } != 0 || stat.st_size as usize != AREA_BYTES {
        // SAFETY: fd was opened above.
        unsafe { libc::close(fd) };
        return Err(libc::EINVAL);
    }
    // SAFETY: fd is an open file of ours; the mapping's address is the kernel's choice.
    let base = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            AREA_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    let error = sys::errno();
    // SAFETY: fd was opened above and is not used again.
    unsafe { libc::close(fd) };
    if base == libc::MAP_FAILED {
        return Err(error);
    }
    // SAFETY: AREA_BYTES of page-aligned shared memory; the collector made the file
    // with that size, zero-filled.
    let area = unsafe { Area::from_raw(base.cast()) };
    area.initialise(pid, sys::monotonic_ns(), sys::unix_ms());
    Ok(area)
}

/// Whether the collector still reads the area: it beats every pass, and attaches
/// within moments of the area's creation.
fn collector_alive(area: &Area) -> bool {
    let header = area.header();
    let now = sys::monotonic_ns();
    let beat = header.heartbeat_ns.load(Ordering::Relaxed);
    let since = if beat == 0 { header.start_ns.load(Ordering::Relaxed) } else { beat };
    now.saturating_sub(since) < COLLECTOR_TIMEOUT_NS
}

/// Waits a moment for the collector to make room; false (and recording stops) when the
/// collector is gone.
#[cold]
fn wait_for_room(area: &Area) -> bool {
    if !collector_alive(area) {
        if STATE.swap(OFF, Ordering::AcqRel) == RECORDING {
            area.header().state.store(area::STATE_OFF, Ordering::Release);
            sys::complain(&[b"memscope: the collector stopped reading; recording stops"]);
        }
        return false;
    }
    sys::sleep_us(ROOM_WAIT_US);
    true
}

/// Appends a record to the area's log, waiting for room.
fn append(area: &Area, kind: u8, parts: &[&[u8]]) -> bool {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    if len + 5 > LOG_BYTES {
        return false;
    }
    let _held = LOG.lock();
    while !area.log_append(kind, parts) {
        if !wait_for_room(area) {
            return false;
        }
    }
    true
}

/// Rereads the module map if the loader's count of loads and unloads moved (this also
/// catches libraries glibc loads internally, which no dlopen hook sees), installs it
/// for unwinding and logs it.
fn refresh_modules(area: &Area, force: bool) {
    if heap::out_of_memory() {
        return;
    }
    let generation = modules::generation();
    if !force && generation == LOADER_GENERATION.load(Ordering::Relaxed) {
        return;
    }
    let _held = MODULE_SCAN.lock();
    LOADER_GENERATION.store(generation, Ordering::Relaxed);
    unwind::install(modules::scan(), unwind_mode(), !EMBEDDED.load(Ordering::Relaxed));
    let (kind, payload) = control::encode_modules(&modules::seen());
    append(area, kind, &[&payload]);
}

/// Set when the recorder is linked into the program (`start_embedded`): its module is
/// the program's, so its frames cannot be told from the program's by module, and are
/// left for the analysis to trim by name.
static EMBEDDED: AtomicBool = AtomicBool::new(false);

fn unwind_mode() -> UnwindMode {
    if FRAME_POINTERS.load(Ordering::Relaxed) {
        UnwindMode::FramePointer
    } else {
        UnwindMode::Dwarf
    }
}

/// The calling thread's record, attached at its first event.
#[inline(always)]
fn thread_record(area: &Area) -> Option<&'static ThreadRecord> {
    let record = thread::current();
    if record.is_null() {
        return first_event(area);
    }
    // SAFETY: the key's value points into the current area, which stays mapped.
    Some(unsafe { &*record })
}

#[cold]
fn first_event(area: &Area) -> Option<&'static ThreadRecord> {
    // SAFETY: records live in the area, mapped for the rest of the process.
    let record: &'static ThreadRecord = unsafe { &*(thread::attach(area)? as *const ThreadRecord) };
    if sampling::is_on() {
        sampling::start_thread(record, thread::index_of(area, record));
        thread::cache(area, record);
    }
    if EMBEDDED.load(Ordering::Relaxed) && is_memscope_thread() {
        record.ignored.store(1, Ordering::Relaxed);
    }
    if area.header().threads_high.load(Ordering::Relaxed) > 1 {
        // A thread started without pthread_create (a raw clone) is seen here.
        THREADED.store(true, Ordering::SeqCst);
    }
    Some(record)
}

/// The prefix of the names of memscope's own threads inside a program that links the
/// recorder in. A thread another library starts from one of them inherits the name
/// (Linux copies it), so the HTTP server's worker threads are known too.
const OWN_THREAD_PREFIX: &[u8] = b"memscope-";

/// Whether the calling thread is one of memscope's, by its name.
fn is_memscope_thread() -> bool {
    thread_name().is_some_and(|name| name.starts_with(OWN_THREAD_PREFIX))
}

/// The calling thread's name (its `comm`), NUL-padded.
fn thread_name() -> Option<[u8; 16]> {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes into `name`.
    let got = unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } == 0;
    got.then_some(name)
}

/// Logs the calling thread's name for the collector when it differs from the one last
/// logged: at the thread's first tick, and at the first tick after a rename
/// (`pthread_setname_np`). One `prctl` per tick, which comes at most once per step of
/// the collector's clock.
fn log_name_change(area: &Area, record: &ThreadRecord) {
    let Some(state) = unwinding(area, record) else { return };
    let Some(name) = thread_name().filter(|name| *name != state.name) else { return };
    let len = name.iter().position(|&byte| byte == 0).unwrap_or(name.len());
    let (kind, head) = control::thread_name_head(record.tid.load(Ordering::Relaxed), &name[..len]);
    if append(area, kind, &[&head, &name[..len]]) {
        state.name = name;
    }
}

fn count_dropped(area: &Area) {
    area.header().dropped.fetch_add(1, Ordering::Relaxed);
}

/// The thread's stack (at the outermost hook level only: a signal handler's nested
/// event is recorded without one, since the unwinding state is the interrupted call's).
fn capture(area: &Area, record: &ThreadRecord) -> u32 {
    let Some(unwinding) = unwinding(area, record) else {
        area.header().stackless.fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    let depth = MAX_FRAMES.load(Ordering::Relaxed);
    let tag = unwinding.tag;
    unwinding.unwinder.capture(&mut unwinding.stacks, depth, tag, area, append)
}

fn unwinding(area: &Area, record: &ThreadRecord) -> Option<&'static mut Unwinding> {
    let mut state = record.unwinder.load(Ordering::Relaxed) as *mut Unwinding;
    if state.is_null() {
        if heap::out_of_memory() {
            return None;
        }
        let _ = area;
        state = Box::into_raw(Box::new(Unwinding {
            unwinder: ThreadUnwinder::new(),
            stacks: StackCache::new(),
            tag: 0,
            name: [0; 16],
        }));
        record.unwinder.store(state as u64, Ordering::Relaxed);
    }
    // SAFETY: created above by this thread, used only by it at the outermost level.
    Some(unsafe { &mut *state })
}

/// Publishes one event, after a tick if the clock moved since the thread's last one.
#[inline(always)]
fn emit(
    area: &Area,
    record: &ThreadRecord,
    depth: u32,
    kind: Kind,
    w0: u64,
    size: u64,
    stack: u32,
) {
    let now = match area.header().clock_ns.load(Ordering::Relaxed) {
        // The collector has not attached yet (the program's first moments): the time is
        // read precisely until it has.
        0 => unattached_clock(area),
        now => now,
    };
    if now != record.last_tick.load(Ordering::Relaxed) {
        tick(area, record, depth, now);
    }
    if size >= SLOT_SIZE_LIMIT {
        large_size(area, record, depth, size);
    }
    let Some(slot) = reserve(area, record, depth) else { return count_dropped(area) };
    let seq =
        if kind.is_ordered() { area.next_seq(w0, THREADED.load(Ordering::Relaxed)) } else { 0 };
    Area::publish(slot, kind, w0, size, stack, seq);
}

/// Nanoseconds since the start, in whole microseconds, read from the system clock.
#[cold]
fn unattached_clock(area: &Area) -> u64 {
    let start = area.header().start_ns.load(Ordering::Relaxed);
    sys::monotonic_ns().saturating_sub(start) / 1000 * 1000
}

/// A size too large for a slot (a terabyte or more) goes in a slot of its own first.
#[cold]
fn large_size(area: &Area, record: &ThreadRecord, depth: u32, size: u64) {
    if let Some(slot) = reserve(area, record, depth) {
        Area::publish(slot, Kind::LargeSize, size, 0, 0, 0);
    }
}

#[cold]
fn tick(area: &Area, record: &ThreadRecord, depth: u32, now: u64) {
    record.last_tick.store(now, Ordering::Relaxed);
    if depth == 0 {
        refresh_modules(area, false);
        log_name_change(area, record);
    }
    if let Some(slot) = reserve(area, record, depth) {
        Area::publish(slot, Kind::Tick, now, 0, 0, 0);
    }
}

#[inline(always)]
fn reserve<'a>(area: &'a Area, record: &ThreadRecord, depth: u32) -> Option<Reserved<'a>> {
    let owner = thread::index_of(area, record);
    match area.reserve(record, owner) {
        Some(slot) => Some(slot),
        None => reserve_waiting(area, record, owner, depth),
    }
}

/// No chunk is free: the collector is behind. An outermost call waits for it; a signal
/// handler's nested call must not (the collector may be waiting for the event it
/// interrupted), so its event is dropped.
#[cold]
fn reserve_waiting<'a>(
    area: &'a Area,
    record: &ThreadRecord,
    owner: u32,
    depth: u32,
) -> Option<Reserved<'a>> {
    if depth > 0 {
        return None;
    }
    loop {
        if !wait_for_room(area) {
            return None;
        }
        if let Some(slot) = area.reserve(record, owner) {
            return Some(slot);
        }
    }
}

/// Enters the hooks on this thread: its record, the record its events go to (its
/// own, or in a signal handler that interrupted a hook, its handlers'), and how deep
/// it already was.
#[inline(always)]
fn enter(area: &Area) -> Option<(&'static ThreadRecord, &'static ThreadRecord, u32)> {
    let Some(record) = thread_record(area) else {
        count_dropped(area);
        return None;
    };
    if record.ignored.load(Ordering::Relaxed) != 0 {
        return None;
    }
    let depth = record.depth.load(Ordering::Relaxed);
    let stream = if depth == 0 { record } else { nested(area, record)? };
    record.depth.store(depth + 1, Ordering::Relaxed);
    Some((record, stream, depth))
}

#[cold]
fn nested(area: &Area, record: &ThreadRecord) -> Option<&'static ThreadRecord> {
    // SAFETY: records live in the area, mapped for the rest of the process.
    let nested = thread::nested_of(area, record).map(|r| unsafe { &*(r as *const ThreadRecord) });
    if nested.is_none() {
        count_dropped(area);
    }
    nested
}

#[inline(always)]
fn leave(record: &ThreadRecord, depth: u32) {
    record.depth.store(depth, Ordering::Relaxed);
}

#[inline(always)]
fn stack_at(area: &Area, record: &ThreadRecord, depth: u32) -> u32 {
    if depth == 0 {
        capture(area, record)
    } else {
        0
    }
}

/// Whether a hooked call may have anything to record: the recorder is on, or not yet
/// started (the call starts it). Checked inline in every hook, before any register is
/// saved, so a process that is not recorded pays a load and a compare.
#[inline(always)]
fn may_record() -> bool {
    matches!(STATE.load(Ordering::Relaxed), RECORDING | UNINIT)
}

/// Whether an allocation of `size` bytes may be recorded, asked by a hook before it
/// calls glibc. False when nothing records, or when a sampled recording leaves the
/// allocation out: its bytes are then counted down already, and the hook forwards the
/// call and is done (a tail call, so the common case costs a few instructions). True
/// means: call [`record_alloc`] with the block (or [`record_realloc`]), which decides
/// again.
#[inline(always)]
pub fn alloc_wanted(size: usize) -> bool {
    if !may_record() {
        return false;
    }
    // Sampling is configured while the recorder starts, so here it is recording.
    !(sampling::is_on() && sampling::passes(thread::counting_record(&current_area()), size as u64))
}

/// Records a successful allocation of `size` bytes at `ptr` (null: a failed one, not
/// recorded). Whether [`alloc_wanted`] was asked first or not, it decides alone.
#[inline(never)]
pub fn record_alloc(ptr: *mut c_void, size: usize) {
    if ptr.is_null() {
        return;
    }
    let Some(area) = recording() else { return };
    let Some((record, stream, depth)) = enter(&area) else { return };
    if is_sampled(&area, record, ptr as u64, size as u64) {
        let stack = stack_at(&area, record, depth);
        emit(&area, stream, depth, Kind::Alloc, ptr as u64, size as u64, stack);
    }
    leave(record, depth);
}

/// Whether an allocation is recorded: always, unless sampling leaves it out (a sampled
/// block is remembered, so that its free is recorded too).
#[inline(always)]
fn is_sampled(area: &Area, record: &ThreadRecord, address: u64, size: u64) -> bool {
    !sampling::is_on() || (sampling::take(record, size) && sampling::remember(area, address))
}

/// Whether a free is recorded: always, unless sampling left its block out.
#[inline(always)]
fn was_sampled(address: u64) -> bool {
    !sampling::is_on() || sampling::forget(address)
}

/// Whether the free of `ptr` may be recorded, asked by a hook before it calls glibc:
/// false when nothing records, or when a sampled recording surely did not sample the
/// block. True means: call [`record_free`].
#[inline(always)]
pub fn free_wanted(ptr: *mut c_void) -> bool {
    !ptr.is_null() && may_record() && (!sampling::is_on() || sampling::may_hold(ptr as u64))
}

/// Records the free of `ptr`. Call it before the memory goes back to glibc, which may
/// hand the address to another thread at once.
#[inline(never)]
pub fn record_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let Some(area) = recording() else { return };
    // Asked before the thread's record is looked up: in a sampled recording most frees
    // are of blocks never sampled, and they cost nothing more.
    if !was_sampled(ptr as u64) {
        return;
    }
    let Some((record, stream, depth)) = enter(&area) else { return };
    emit(&area, stream, depth, Kind::Free, ptr as u64, 0, 0);
    leave(record, depth);
}

/// Records `realloc(ptr, size)` with both nonzero as a free of the old block and an
/// allocation of the new one, as memcheck counts it. `real` performs the call. A
/// failed realloc leaves the old block live.
pub fn record_realloc(
    ptr: *mut c_void,
    size: usize,
    real: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let Some(area) = recording() else { return real() };
    let Some((record, stream, depth)) = enter(&area) else { return real() };
    let (old, new_size) = (ptr as u64, size as u64);
    let old_sampled = was_sampled(old);
    if old_sampled {
        emit(&area, stream, depth, Kind::ReallocFree, old, 0, 0);
    }
    let new = real();
    if new.is_null() {
        if old_sampled {
            if sampling::is_on() {
                sampling::remember(&area, old);
            }
            emit(&area, stream, depth, Kind::ReallocFailed, old, 0, 0);
        }
    } else if is_sampled(&area, record, new as u64, new_size) {
        let stack = stack_at(&area, record, depth);
        emit(&area, stream, depth, Kind::ReallocAlloc, new as u64, new_size, stack);
    } else if old_sampled {
        emit(&area, stream, depth, Kind::ReallocUnsampled, old, 0, 0);
    }
    leave(record, depth);
    new
}

/// Called before a thread is created: from now on the process may have several.
pub fn before_thread_start() {
    THREADED.store(true, Ordering::SeqCst);
}

/// Called by the preload library's constructor: starts recording if no hooked call has.
pub fn on_load() {
    let _ = recording();
}

fn end(state: u32, reason: u32) {
    let Some(area) = recording() else { return };
    let header = area.header();
    if header.pid.load(Ordering::Relaxed) != sys::getpid() {
        // A vfork child, which shares its parent's memory: the area is the parent's.
        return;
    }
    let elapsed = sys::monotonic_ns().saturating_sub(header.start_ns.load(Ordering::Relaxed));
    header.end_ns.store(elapsed, Ordering::Relaxed);
    header.peak_rss_bytes.store(sys::peak_rss_bytes(), Ordering::Relaxed);
    header.end_reason.store(reason, Ordering::Relaxed);
    header.state.store(state, Ordering::Release);
}

/// The preload library's destructor, run by `exit`. Events after it (other libraries'
/// destructors) are still recorded, until the process is gone.
pub fn on_unload() {
    end(area::STATE_ENDED, area::END_EXIT);
}

/// Called from the `_exit` and `_Exit` hooks, which skip destructors.
pub fn before_immediate_exit() {
    end(area::STATE_ENDED, area::END_IMMEDIATE);
}

/// Called before `exec`: if a new image of this process appears, this image's
/// recording ended by exec.
pub fn before_exec() {
    end(area::STATE_EXEC, 0);
}

/// Called when `exec` failed and returned: the image goes on, and so does its recording.
pub fn after_failed_exec() {
    let Some(area) = recording() else { return };
    let header = area.header();
    if header.pid.load(Ordering::Relaxed) == sys::getpid() {
        let _ = header.state.compare_exchange(
            area::STATE_EXEC,
            area::STATE_RECORDING,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// Called after `dlopen` and `dlclose`, so stacks through new code unwind at once.
pub fn modules_changed() {
    if let Some(area) = recording() {
        refresh_modules(&area, false);
    }
}

/// The thread key's destructor: the thread is ending, after its thread-local
/// destructors. Its record is closed; its unwinding state goes back to glibc.
unsafe extern "C" fn thread_ended(value: *mut c_void) {
    let Some(area) = recording() else { return };
    let base = area.base() as usize;
    if !(base..base + AREA_BYTES).contains(&(value as usize)) {
        return;
    }
    let record = &*(value as *const ThreadRecord);
    let state = record.unwinder.swap(0, Ordering::Relaxed) as *mut Unwinding;
    if !state.is_null() {
        let state = Box::from_raw(state);
        state.unwinder.report(&area);
    }
    thread::close(&area, record);
}

/// In a forked child. With `--follow fork` the child records afresh into an area of its
/// own; otherwise it records nothing (a child that execs starts a recorder of its own).
/// Only this thread exists here: locks held by the parent's other threads are reset.
extern "C" fn in_forked_child() {
    if STATE.load(Ordering::Acquire) != RECORDING {
        return;
    }
    thread::forget_current();
    if !FOLLOW_FORKS.load(Ordering::Relaxed) {
        STATE.store(OFF, Ordering::Release);
        return;
    }
    STATE.store(STARTING, Ordering::Release);
    let parent = current_area();
    // SAFETY: after fork only this thread runs in the child.
    unsafe {
        LOG.reset(());
        MODULE_SCAN.reset(());
        stacks::reset_after_fork();
        modules::reset_after_fork();
        unwind::reset_after_fork();
        libc::munmap(parent.base().cast(), AREA_BYTES);
    }
    THREADED.store(false, Ordering::SeqCst);
    let area = begin();
    STATE.store(if area.is_some() { RECORDING } else { OFF }, Ordering::Release);
}
