//! Settings passed by `memscope run` through the environment.

use std::ffi::CStr;

/// How stacks are captured.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum UnwindMode {
    /// DWARF CFI from `.eh_frame`: right on binaries built without frame pointers.
    Dwarf,
    /// Frame-pointer chain: faster, but only right where every frame keeps one.
    FramePointer,
}

impl UnwindMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            UnwindMode::Dwarf => "dwarf",
            UnwindMode::FramePointer => "fp",
        }
    }
}

/// The deepest stack the agent will ever capture, whatever is asked.
pub(crate) const FRAMES_LIMIT: usize = 256;

pub(crate) struct Config {
    /// Trace path; `%p` stands for the process id.
    pub output: String,
    pub unwind: UnwindMode,
    pub max_frames: usize,
    /// Print recorder statistics to stderr at the end (`MEMSCOPE_STATS=1`).
    pub stats: bool,
}

fn env(name: &CStr) -> Option<String> {
    // SAFETY: getenv takes a NUL-terminated name and returns NULL or a C string that
    // stays valid until the environment changes; we copy it at once.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null values from getenv are NUL-terminated.
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned())
}

impl Config {
    /// `None` when the library was loaded without `memscope run`: then it records nothing.
    pub(crate) fn from_env() -> Option<Config> {
        let output = env(c"MEMSCOPE_OUTPUT").filter(|path| !path.is_empty())?;
        let unwind = match env(c"MEMSCOPE_UNWIND").as_deref() {
            Some("fp") => UnwindMode::FramePointer,
            _ => UnwindMode::Dwarf,
        };
        let max_frames = env(c"MEMSCOPE_MAX_FRAMES")
            .and_then(|n| n.parse().ok())
            .unwrap_or(64usize)
            .clamp(1, FRAMES_LIMIT);
        let stats = env(c"MEMSCOPE_STATS").is_some_and(|v| v == "1");
        Some(Config { output, unwind, max_frames, stats })
    }
}
