//! A recording session: every process image that records under one `memscope run`.
//!
//! Recorders create their capture areas in the session directory, named `PID.N` (the
//! N-th image of process PID). The session maps each one as it appears, drains it into
//! a trace, and ends an image when a later image of the same process appears (it
//! exec'd) or when the process is gone. Traces are written under a temporary name and
//! take their final one when the image ends:
//!
//! - the last image of the process `memscope run` started: `BASE`;
//! - the last image of any other process: `BASE.PID`;
//! - an image that exec'd: `BASE.PID.N`.
//!
//! No name is ever taken from an existing file: a final name that exists is given a
//! `.1`, `.2`, … suffix, and the session says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memscope_format::EndReason;

use crate::destination::{Destination, Series};
use crate::dir_watch::DirWatch;
use crate::image::{DrainStats, Ending, Image};
use crate::live::{CurrentLive, LiveSnapshot};
use crate::mapping::Mapping;
use crate::process::Process;

const RSS_INTERVAL: Duration = Duration::from_millis(10);
/// Spare areas kept ready: each new process (or image) takes one.
const SPARES: usize = 4;
const PEAK_RSS_INTERVAL: Duration = Duration::from_millis(100);

/// One trace the session wrote.
#[derive(Debug)]
pub struct TraceResult {
    /// Where it is.
    pub path: PathBuf,
    /// The name it should have had, when that was taken by another file.
    pub wanted: Option<PathBuf>,
    /// The recorded process.
    pub pid: u32,
    /// Its command line, as the image started.
    pub command: Vec<String>,
    /// Whether this is the last image of the process `memscope run` started.
    pub is_root: bool,
    /// Whether the image ended by exec.
    pub exec: bool,
    /// What the collector counted.
    pub stats: DrainStats,
    /// Why writing stopped early (a full disk, say).
    pub write_error: Option<String>,
    /// The state at the end, kept for a session that writes no traces (`path` is then
    /// empty).
    pub last: Option<(LiveSnapshot, memscope_format::End)>,
}

struct Recorded {
    image: Image,
    pid: u32,
    number: u32,
    area_path: PathBuf,
    partial: PathBuf,
}

/// The session.
pub struct Session {
    dir: PathBuf,
    base: PathBuf,
    root: Option<u32>,
    images: BTreeMap<(u32, u32), Recorded>,
    /// Area files not set up by their recorder yet.
    waiting: HashSet<PathBuf>,
    /// When the directory was listed for new areas.
    listed: DirWatch,
    /// Images drained to the end. Their area files stay, emptied, until the session
    /// ends: a recorder numbers its image after the names taken.
    ended: HashSet<(u32, u32)>,
    processes: HashMap<u32, Process>,
    done: Vec<TraceResult>,
    next_rss: Instant,
    next_peak: Instant,
    /// Spare areas made so far (the next one's number).
    spares_made: u64,
    /// Whether making a spare area failed already (it is said once).
    spare_failed: bool,
    /// Rotation: each trace a directory of files of about this many bytes, this many
    /// kept.
    rotation: Option<(u64, usize)>,
    /// Whether traces are kept in memory only (`--mode live`).
    live_only: bool,
    /// The live state of the program's current image, for the endpoint.
    current: CurrentLive,
}

/// How the process `memscope run` started ended.
#[derive(Copy, Clone, Debug)]
pub struct RootExit {
    /// As its wait status says.
    pub reason: EndReason,
    /// The kernel's `ru_maxrss` from the wait, bytes. Only a last resort for the peak
    /// RSS (a process that died before anyone read its VmHWM): it also counts the
    /// children the process waited for, and memscope's own memory, which the process
    /// held until its `exec`.
    pub max_rss_bytes: u64,
}

/// The session directory and its areas go with the session, however it ends (a program
/// that could not be started, too): they are memscope's, not the user's.
impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            entries.flatten().for_each(|entry| drop(std::fs::remove_file(entry.path())));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Session {
    /// Creates a private session directory under `parent`.
    pub fn create(parent: &Path) -> io::Result<Session> {
        let dir = private_dir(parent)?;
        let listed = DirWatch::new(&dir);
        let now = Instant::now();
        Ok(Session {
            dir,
            base: PathBuf::new(),
            root: None,
            images: BTreeMap::new(),
            waiting: HashSet::new(),
            listed,
            ended: HashSet::new(),
            processes: HashMap::new(),
            done: Vec::new(),
            next_rss: now,
            next_peak: now,
            spares_made: 0,
            spare_failed: false,
            rotation: None,
            live_only: false,
            current: CurrentLive::default(),
        })
    }

    /// The directory recorders create their areas in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process `memscope run` started, and the name of its trace, from which the
    /// other traces are named.
    pub fn set_root(&mut self, pid: u32, base: PathBuf) {
        self.root = Some(pid);
        self.base = base;
    }

    /// Looks for new areas, drains every image, and ends those whose process moved on.
    /// `root_exit` is set once the started process was reaped. Returns whether anything
    /// was read.
    pub fn step(&mut self, root_exit: Option<RootExit>) -> bool {
        self.discover();
        let now_ns = monotonic_ns();
        let mut progress = false;
        for recorded in self.images.values_mut() {
            recorded.image.tick(now_ns);
            progress |= recorded.image.pass(false);
        }
        self.sample_memory();
        self.end_images(root_exit);
        self.follow_root(root_exit.is_some());
        progress
    }

    /// Points the endpoint at the program's latest image; once the program was reaped
    /// and its last image ended, at nothing.
    fn follow_root(&mut self, reaped: bool) {
        let Some(root) = self.root else { return };
        let latest = self.images.range((root, 0)..=(root, u32::MAX)).next_back();
        match latest {
            None if reaped => self.current.end(),
            _ => self.current.set(latest.and_then(|(_, recorded)| recorded.image.live_handle())),
        }
    }

    /// Whether every recorded process is gone and its trace complete.
    pub fn is_done(&self) -> bool {
        self.images.is_empty() && self.waiting.is_empty()
    }

    /// The traces written, in the order they ended. The session directory goes when
    /// the session is dropped.
    pub fn finish(mut self) -> Vec<TraceResult> {
        std::mem::take(&mut self.done)
    }

    /// Maps the areas that appeared, and keeps the spares ready. An area not set up yet
    /// is looked at again on every step.
    fn discover(&mut self) {
        if !self.listed.should_list() && self.waiting.is_empty() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut spares = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().as_encoded_bytes().starts_with(b"spare.") {
                spares += 1;
                continue;
            }
            let Some((pid, number)) = area_name(&path) else { continue };
            if self.images.contains_key(&(pid, number)) || self.ended.contains(&(pid, number)) {
                continue;
            }
            self.processes.entry(pid).or_insert_with(|| Process::follow(pid));
            match Mapping::open(&path) {
                Ok(Some(mapping)) if mapping.area().is_ready() => {
                    self.waiting.remove(&path);
                    self.start_image(mapping, pid, number, path);
                }
                Ok(_) => {
                    self.waiting.insert(path);
                }
                Err(_) => {
                    self.waiting.remove(&path);
                }
            }
        }
        for _ in spares..SPARES {
            self.make_spare();
        }
        self.drop_abandoned();
    }

    /// Removes the waiting areas whose process died before setting them up: they hold
    /// nothing. Whether an area is set up is asked again once its process is known
    /// gone: the process may have set it up, recorded everything and exited since the
    /// listing that found it not set up (a short program, while the collector was
    /// held), and then the next listing takes it.
    fn drop_abandoned(&mut self) {
        let processes = &mut self.processes;
        self.waiting.retain(|path| {
            let pid = area_name(path).map_or(0, |(pid, _)| pid);
            let gone = processes.get_mut(&pid).is_none_or(Process::has_exited);
            let abandoned = gone && !is_set_up(path);
            if abandoned {
                let _ = std::fs::remove_file(path);
            }
            !abandoned
        });
    }

    /// A spare area for the next process to take: made under a temporary name and
    /// renamed once it has its size, so a recorder never takes a short one.
    fn make_spare(&mut self) {
        let number = self.spares_made;
        self.spares_made += 1;
        let made = self.dir.join(format!(".spare.{number}"));
        let ready = create_private(&made).and_then(|(file, made)| {
            file.set_len(memscope_agent::area::AREA_BYTES as u64)?;
            std::fs::rename(&made, self.dir.join(format!("spare.{number}")))
        });
        if let Err(err) = ready {
            if !std::mem::replace(&mut self.spare_failed, true) {
                let size = memscope_agent::area::AREA_BYTES >> 20;
                eprintln!(
                    "memscope: cannot prepare a capture area ({size} MiB) in {}: {err}",
                    self.dir.display()
                );
            }
        }
    }

    /// Writes every trace as a rotated series: a directory of files of about `max_bytes`
    /// each, the newest `keep` of them kept.
    pub fn rotate(&mut self, max_bytes: u64, keep: usize) {
        self.rotation = Some((max_bytes, keep));
    }

    /// Keeps no trace files: only the live state, and at the end the last snapshot.
    pub fn keep_in_memory(&mut self) {
        self.live_only = true;
    }

    /// The live state of the program's current image (it changes when the program
    /// execs), for the endpoint.
    pub fn current_live(&self) -> CurrentLive {
        self.current.clone()
    }

    /// Makes the first spare areas, before the program starts.
    pub fn prepare(&mut self) {
        for _ in 0..SPARES {
            self.make_spare();
        }
    }

    fn start_image(&mut self, mapping: Mapping, pid: u32, number: u32, area_path: PathBuf) {
        let partial = sibling(&self.base, &format!(".{pid}.{number}.partial"));
        match self.destination(&partial) {
            Ok((destination, partial)) => {
                let image = Image::new(mapping, destination);
                self.images
                    .insert((pid, number), Recorded { image, pid, number, area_path, partial });
            }
            Err(err) => {
                eprintln!("memscope: cannot write a trace beside {}: {err}", self.base.display());
                self.ended.insert((pid, number));
                let _ = OpenOptions::new().write(true).truncate(true).open(&area_path);
            }
        }
    }

    /// A new file, or with rotation a new directory, at `path` (or the next free name).
    fn destination(&self, path: &Path) -> io::Result<(Destination, PathBuf)> {
        if self.live_only {
            return Ok((Destination::Nowhere, PathBuf::new()));
        }
        let Some((max_bytes, keep)) = self.rotation else {
            let (file, path) = create_private(path)?;
            return Ok((Destination::File(file), path));
        };
        let dir = create_private_dir(path)?;
        Ok((Destination::Series(Series::new(dir.clone(), max_bytes, keep)), dir))
    }

    fn sample_memory(&mut self) {
        let now = Instant::now();
        if now >= self.next_peak {
            self.next_peak = now + PEAK_RSS_INTERVAL;
            self.processes.values_mut().for_each(Process::update_peak_rss);
        }
        if now < self.next_rss {
            return;
        }
        self.next_rss = now + RSS_INTERVAL;
        let mut latest: HashMap<u32, u32> = HashMap::new();
        for &(pid, number) in self.images.keys() {
            latest.insert(pid, number);
        }
        for (pid, number) in latest {
            if let Some(rss) = self.processes.get(&pid).and_then(Process::rss_bytes) {
                if let Some(recorded) = self.images.get_mut(&(pid, number)) {
                    recorded.image.sample_rss(rss);
                }
            }
        }
    }

    fn end_images(&mut self, root_exit: Option<RootExit>) {
        let keys: Vec<(u32, u32)> = self.images.keys().copied().collect();
        for (pid, number) in keys {
            let superseded = self.images.range((pid, number + 1)..(pid, u32::MAX)).next().is_some();
            let is_root = Some(pid) == self.root;
            let gone = if is_root {
                root_exit.is_some()
            } else {
                self.processes.get_mut(&pid).is_some_and(Process::has_exited)
            };
            if !superseded && !gone {
                continue;
            }
            let Some(recorded) = self.images.remove(&(pid, number)) else { continue };
            let (ending, peak) = if superseded {
                (Ending::Exec, 0)
            } else {
                let sampled = self.processes.get(&pid).map_or(0, |p| p.peak_rss_bytes);
                match root_exit.filter(|_| is_root) {
                    Some(exit) if sampled == 0 => {
                        (Ending::Gone(Some(exit.reason)), exit.max_rss_bytes)
                    }
                    exit => (Ending::Gone(exit.map(|exit| exit.reason)), sampled),
                }
            };
            self.end_image(recorded, ending, peak, is_root && !superseded);
            if !superseded {
                self.processes.remove(&pid);
            }
        }
    }

    fn end_image(&mut self, recorded: Recorded, ending: Ending, peak_rss: u64, is_root: bool) {
        let Recorded { image, pid, number, area_path, partial } = recorded;
        let command = image.command().map(<[String]>::to_vec).unwrap_or_default();
        let described = image.is_described();
        let finished = image.finish(ending, peak_rss);
        let (stats, write_error) = (finished.stats, finished.write_error);
        self.ended.insert((pid, number));
        // Emptied, not removed: the name stays taken (see `ended`).
        let _ = OpenOptions::new().write(true).truncate(true).open(&area_path);
        if !described {
            let _ = std::fs::remove_file(&partial);
            return;
        }
        let exec = ending == Ending::Exec;
        if self.live_only {
            let last = finished.last.map(|snapshot| (snapshot, finished.end));
            let path = PathBuf::new();
            self.done.push(TraceResult {
                path,
                wanted: None,
                pid,
                command,
                is_root,
                exec,
                stats,
                write_error,
                last,
            });
            return;
        }
        let wanted = match (is_root, exec) {
            (true, _) => self.base.clone(),
            (false, false) => sibling(&self.base, &format!(".{pid}")),
            (false, true) => sibling(&self.base, &format!(".{pid}.{number}")),
        };
        let path = match rename_without_replacing(&partial, &wanted) {
            Ok(path) => path,
            Err(err) => {
                eprintln!("memscope: cannot name the trace {}: {err}", wanted.display());
                partial
            }
        };
        let wanted = (path != wanted).then_some(wanted);
        self.done.push(TraceResult {
            path,
            wanted,
            pid,
            command,
            is_root,
            exec,
            stats,
            write_error,
            last: None,
        });
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether the area at `path` was set up by its recorder.
fn is_set_up(path: &Path) -> bool {
    Mapping::open(path).ok().flatten().is_some_and(|mapping| mapping.area().is_ready())
}

/// `PID.N` of an area file's name.
fn area_name(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    let (pid, number) = name.split_once('.')?;
    Some((pid.parse().ok()?, number.parse().ok()?))
}

/// `base` with `suffix` appended to its file name.
fn sibling(base: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = base.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    base.with_file_name(name)
}

/// A new directory, owner-only, with a name no one else has.
fn private_dir(parent: &Path) -> io::Result<PathBuf> {
    let pid = std::process::id();
    for attempt in 0..1000u32 {
        // Fixed-width numbers: the name's length never depends on the pid, so neither
        // does the size of the program's environment.
        let dir = parent.join(format!("memscope-{pid:010}-{attempt:03}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free session directory name"))
}

/// Creates `path` owner-only, exclusively and never through a symbolic link; a taken
/// name gets a numeric suffix.
pub fn create_private(path: &Path) -> io::Result<(File, PathBuf)> {
    for n in 0..1000u32 {
        let candidate = if n == 0 { path.to_owned() } else { sibling(path, &format!(".{n}")) };
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&candidate);
        match opened {
            Ok(file) => return Ok((file, candidate)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "every name is taken"))
}

/// Creates the directory `path` (or the next free name), owner-only.
fn create_private_dir(path: &Path) -> io::Result<PathBuf> {
    for n in 0..1000u32 {
        let candidate = if n == 0 { path.to_owned() } else { sibling(path, &format!(".{n}")) };
        match std::fs::DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "every name is taken"))
}

/// Moves `from` to `to`, or to `to.1`, `to.2`, … if `to` exists: never over a file.
fn rename_without_replacing(from: &Path, to: &Path) -> io::Result<PathBuf> {
    for n in 0..1000u32 {
        let candidate = if n == 0 { to.to_owned() } else { sibling(to, &format!(".{n}")) };
        let c_from = std::ffi::CString::new(from.as_os_str().as_bytes())?;
        let c_to = std::ffi::CString::new(candidate.as_os_str().as_bytes())?;
        // SAFETY: two NUL-terminated paths; renameat2 only reads them.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                c_from.as_ptr(),
                libc::AT_FDCWD,
                c_to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if result == 0 {
            return Ok(candidate);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::AlreadyExists {
            return Err(err);
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "every name is taken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An area file named for `pid`, set up by its recorder or not.
    fn area_file(session: &Session, pid: u32, set_up: bool) -> PathBuf {
        let path = session.dir().join(format!("{pid}.0"));
        let file = File::create(&path).unwrap();
        file.set_len(memscope_agent::area::AREA_BYTES as u64).unwrap();
        if set_up {
            let mapping = Mapping::open(&path).unwrap().unwrap();
            mapping.area().initialise(pid, 1, 1);
        }
        path
    }

    /// A pid whose process has exited and been reaped.
    fn gone_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn an_area_set_up_after_it_was_listed_is_kept_when_its_process_is_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mut session = Session::create(parent.path()).unwrap();
        let (kept, dropped) = (gone_pid(), gone_pid());
        let set_up = area_file(&session, kept, true);
        let empty = area_file(&session, dropped, false);
        for (pid, path) in [(kept, &set_up), (dropped, &empty)] {
            session.processes.insert(pid, Process::follow(pid));
            session.waiting.insert(path.clone());
        }
        session.drop_abandoned();
        assert!(session.waiting.contains(&set_up) && set_up.exists());
        assert!(!session.waiting.contains(&empty) && !empty.exists());
    }
}
