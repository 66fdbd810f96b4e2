//! Settings passed by `memscope run` through the environment. They are read from
//! `/proc/self/environ`, the environment the process started with, because the first
//! hooked call may come before libc has set up `environ`, and because a program that
//! edits its environment must not change what memscope does.

use alloc::vec::Vec;

/// How stacks are captured.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UnwindMode {
    /// DWARF CFI from `.eh_frame`: right on binaries built without frame pointers.
    Dwarf,
    /// Frame-pointer chain: faster, but only right where every frame keeps one.
    FramePointer,
}

impl UnwindMode {
    /// The name `memscope run --unwind` and the trace use.
    pub fn name(self) -> &'static str {
        match self {
            UnwindMode::Dwarf => "dwarf",
            UnwindMode::FramePointer => "fp",
        }
    }
}

/// Which processes besides the one `memscope run` started are recorded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Only the started process (through its `exec`s).
    None,
    /// Also every process that starts by `exec` (the default).
    Exec,
    /// Also forked children that do not `exec`.
    Fork,
}

/// The deepest stack the agent will ever capture, whatever is asked.
pub const FRAMES_LIMIT: usize = 256;

/// What `memscope run` asked for.
pub struct Config {
    /// The directory where the process creates its capture area.
    pub session: Vec<u8>,
    /// How stacks are captured.
    pub unwind: UnwindMode,
    /// The deepest stack recorded.
    pub max_frames: usize,
    /// Which processes are recorded.
    pub follow: Follow,
    /// The pid of `memscope run`: with [`Follow::None`] only its child records.
    pub parent: u32,
    /// Mean bytes between samples; 0 records every allocation.
    pub sample_rate: u64,
    /// Seeds the sampling's random numbers (`MEMSCOPE_SAMPLE_SEED`), else the clock.
    pub sample_seed: Option<u64>,
}

impl Config {
    /// The settings in `environ` (NUL-separated `NAME=value` entries); `None` when the
    /// library was loaded without `memscope run`.
    pub fn parse(environ: &[u8]) -> Option<Config> {
        let var = |name: &[u8]| {
            environ
                .split(|&b| b == 0)
                .find_map(|entry| entry.strip_prefix(name).and_then(|rest| rest.strip_prefix(b"=")))
        };
        let session = var(b"MEMSCOPE_SESSION").filter(|dir| !dir.is_empty())?.to_vec();
        let unwind = match var(b"MEMSCOPE_UNWIND") {
            Some(b"fp") => UnwindMode::FramePointer,
            _ => UnwindMode::Dwarf,
        };
        let text = |name: &[u8]| var(name).and_then(|v| core::str::from_utf8(v).ok());
        let max_frames = text(b"MEMSCOPE_MAX_FRAMES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64usize)
            .clamp(1, FRAMES_LIMIT);
        let follow = match var(b"MEMSCOPE_FOLLOW") {
            Some(b"none") => Follow::None,
            Some(b"fork") => Follow::Fork,
            _ => Follow::Exec,
        };
        let parent = text(b"MEMSCOPE_PARENT").and_then(|v| v.parse().ok()).unwrap_or(0);
        let sample_rate = text(b"MEMSCOPE_SAMPLE_RATE").and_then(|v| v.parse().ok()).unwrap_or(0);
        let sample_seed = text(b"MEMSCOPE_SAMPLE_SEED").and_then(|v| v.parse().ok());
        Some(Config { session, unwind, max_frames, follow, parent, sample_rate, sample_seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_from_a_nul_separated_environment() {
        let environ = b"PATH=/bin\0MEMSCOPE_SESSION=/run/s\0MEMSCOPE_UNWIND=fp\0MEMSCOPE_MAX_FRAMES=999\0MEMSCOPE_FOLLOW=fork\0MEMSCOPE_PARENT=42\0MEMSCOPE_SAMPLE_RATE=524288\0MEMSCOPE_SAMPLE_SEED=7\0";
        let config = Config::parse(environ).unwrap();
        assert_eq!(config.session, b"/run/s");
        assert_eq!(config.unwind, UnwindMode::FramePointer);
        assert_eq!(config.max_frames, FRAMES_LIMIT);
        assert_eq!(config.follow, Follow::Fork);
        assert_eq!(config.parent, 42);
        assert_eq!((config.sample_rate, config.sample_seed), (524288, Some(7)));
    }

    #[test]
    fn without_a_session_nothing_is_recorded() {
        assert!(Config::parse(b"MEMSCOPE_SESSION=\0MEMSCOPE_UNWIND=fp\0").is_none());
        assert!(Config::parse(b"XMEMSCOPE_SESSION=/x\0").is_none());
    }
}
