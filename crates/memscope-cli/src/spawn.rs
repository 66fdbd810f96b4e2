//! Starting the program as if memscope were not between it and whoever started
//! memscope: the environment in the order memscope got it (the preload variables set
//! in place, or added at the end), the signal mask memscope was started with, and its
//! signal dispositions. `std::process::Command` would sort the environment and clear
//! the mask.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// Starts `argv[0]` (searched in `PATH`) with `argv` and memscope's environment changed
/// by `settings`, without the variables named in `hidden`; its pid.
pub fn spawn(argv: &[OsString], settings: &[(&str, OsString)], hidden: &[&str]) -> io::Result<u32> {
    let argv: Vec<CString> = argv.iter().map(|arg| c_string(arg)).collect::<io::Result<_>>()?;
    let envp = environment(settings, hidden)?;
    let argv_pointers = null_terminated(&argv);
    let envp_pointers = null_terminated(&envp);
    catch_signals();
    let attributes = Attributes::new()?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer array is null-terminated and outlives the call; the
    // attributes are initialized.
    let error = unsafe {
        libc::posix_spawnp(
            &mut pid,
            argv[0].as_ptr(),
            std::ptr::null(),
            &attributes.0,
            argv_pointers.as_ptr(),
            envp_pointers.as_ptr(),
        )
    };
    check(error).map(|()| pid as u32)
}

/// memscope's environment, in its order, with each of `settings` replacing the
/// variable of its name where it is, or added after the others, and those in `hidden`
/// left out.
fn environment(settings: &[(&str, OsString)], hidden: &[&str]) -> io::Result<Vec<CString>> {
    let setting = |name: &OsStr| settings.iter().find(|(key, _)| OsStr::new(key) == name);
    let kept = |(name, _): &(OsString, OsString)| !hidden.iter().any(|h| OsStr::new(h) == name);
    let inherited = std::env::vars_os().filter(kept).map(|(name, value)| match setting(&name) {
        Some((_, set)) => (name, set.clone()),
        None => (name, value),
    });
    let added = settings
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .map(|(name, value)| (OsString::from(name), value.clone()));
    inherited
        .chain(added)
        .map(|(mut name, value)| {
            name.push("=");
            name.push(value);
            c_string(&name)
        })
        .collect()
}

fn c_string(text: &OsStr) -> io::Result<CString> {
    CString::new(text.as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{text:?} holds a NUL byte"))
    })
}

fn null_terminated(strings: &[CString]) -> Vec<*mut libc::c_char> {
    strings
        .iter()
        .map(|string| string.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// Spawn attributes that reset SIGPIPE to its default in the program: Rust's runtime
/// ignores it in memscope, and an ignored signal stays ignored across `exec`. The mask
/// is left alone, so the program inherits the one memscope was started with.
struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    fn new() -> io::Result<Self> {
        // SAFETY: init fills the attributes, which are then owned (and destroyed) by
        // `Self`; the set functions take initialized ones.
        unsafe {
            let mut attributes = std::mem::zeroed();
            check(libc::posix_spawnattr_init(&mut attributes))?;
            let mut attributes = Self(attributes);
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut defaults);
            libc::sigaddset(&mut defaults, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(&mut attributes.0, &defaults))?;
            let flags = libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut attributes.0, flags))?;
            Ok(attributes)
        }
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(error: libc::c_int) -> io::Result<()> {
    match error {
        0 => Ok(()),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// The program, not memscope, should get Ctrl-C from the terminal; memscope waits to
/// report on the trace. A file size limit (`ulimit -f`) must make a write fail, not kill
/// the collector.
///
/// memscope catches these signals with a handler that does nothing, rather than ignoring
/// them: `exec` resets a caught signal to its default in the program, where an ignored
/// one would stay ignored. A signal already ignored (`nohup`, a background job) stays
/// ignored for both.
fn catch_signals() {
    extern "C" fn nothing(_: libc::c_int) {}
    // SAFETY: sigaction is plain data, all-zero valid; the handler touches nothing.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = nothing as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGXFSZ] {
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut previous);
            if previous.sa_sigaction != libc::SIG_IGN {
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}
