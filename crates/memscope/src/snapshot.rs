//! What holds memory at an instant, by allocating site: in code what `go tool pprof`
//! shows from the endpoint, and the same profiles.

use std::fmt;
use std::io::Write;

use memscope_analyze::{ProfileStack, SampleType, StackProfile};
use memscope_collector::LiveSnapshot;
use memscope_endpoint::{heap_profile, with_live_profile, Rendering};

use crate::error::Error;
use crate::runtime;
use crate::stats::bytes;

/// Live memory per stack at an instant, or, made by [`Snapshot::diff`], the change
/// between two instants.
#[derive(Debug)]
pub struct Snapshot {
    state: Option<LiveSnapshot>,
    baseline: Option<LiveSnapshot>,
}

/// One allocating site: the innermost frame of the program's own (allocator frames
/// left out), and what its stacks hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Site {
    /// The function (demangled).
    pub function: String,
    /// Its source file, if known.
    pub file: Option<String>,
    /// The line, if known.
    pub line: Option<u32>,
    /// Live bytes (for a diff: their change).
    pub bytes: i64,
    /// Live blocks (for a diff: their change).
    pub blocks: i64,
    /// Bytes allocated (for a diff: since the older snapshot).
    pub allocated_bytes: i64,
}

/// The live memory now, by stack. Empty when memscope is not recording.
pub fn snapshot() -> Snapshot {
    let state = crate::inside_memscope(|| runtime::running()?.snapshot());
    Snapshot { state, baseline: None }
}

impl Snapshot {
    /// What changed since `older`: every value is this one's less `older`'s.
    pub fn diff(&self, older: &Snapshot) -> Snapshot {
        crate::inside_memscope(|| Snapshot {
            state: self.state.clone(),
            baseline: older.state.clone(),
        })
    }

    /// Sites by live bytes, most first (by the size of the change, for a diff).
    pub fn sites(&self) -> Vec<Site> {
        crate::inside_memscope(|| self.with_profile(|profile| sites_of(profile.stacks.iter())))
            .unwrap_or_default()
    }

    /// Sites of the stacks that carry owner tag `tag`.
    pub fn sites_tagged(&self, tag: &str) -> Vec<Site> {
        crate::inside_memscope(|| {
            self.with_profile(|profile| {
                let tagged = profile.stacks.iter().filter(|stack| {
                    let mut frames = stack.locations.iter().flat_map(|l| l.frames.iter());
                    frames.any(|f| memscope_analyze::tag_of(f) == Some(tag))
                });
                sites_of(tagged)
            })
        })
        .unwrap_or_default()
    }

    /// Writes the snapshot as a gzip pprof profile (Go's heap profile layout, the
    /// endpoint's `/debug/pprof/heap`). An empty snapshot writes an empty profile.
    pub fn write_pprof(&self, out: &mut impl Write) -> Result<(), Error> {
        let profile = crate::inside_memscope(|| {
            let state = self.state.as_ref()?;
            heap_profile(state, self.baseline.as_ref(), SampleType::InuseSpace, Rendering::Pprof)
                .ok()
        });
        out.write_all(&profile.unwrap_or_default())
            .map_err(|source| Error::Create { path: "the pprof output".into(), source })
    }

    fn with_profile<T: Send>(&self, f: impl FnOnce(&StackProfile) -> T + Send) -> Option<T> {
        let state = self.state.as_ref()?;
        with_live_profile(state, self.baseline.as_ref(), |_, profile| f(profile)).ok()
    }
}

fn sites_of<'p, 's: 'p>(stacks: impl Iterator<Item = &'p ProfileStack<'s>>) -> Vec<Site> {
    let mut sites: Vec<Site> = Vec::new();
    for stack in stacks {
        let frame = stack.locations.iter().flat_map(|l| l.frames.iter()).next();
        let (function, file, line) = match frame {
            Some(f) => (f.function.clone(), f.file.clone(), f.line),
            None => ("[no stack]".to_owned(), None, None),
        };
        let c = &stack.counts;
        match sites.iter_mut().find(|s| s.function == function && s.file == file && s.line == line)
        {
            Some(site) => {
                site.bytes += c.live_bytes;
                site.blocks += c.live_blocks;
                site.allocated_bytes += c.alloc_bytes;
            }
            None => sites.push(Site {
                function,
                file,
                line,
                bytes: c.live_bytes,
                blocks: c.live_blocks,
                allocated_bytes: c.alloc_bytes,
            }),
        }
    }
    sites.sort_by(|a, b| {
        b.bytes.abs().cmp(&a.bytes.abs()).then_with(|| a.function.cmp(&b.function))
    });
    sites
}

/// Copies and drops are memscope's own work too: none of it is the program's memory.
impl Clone for Snapshot {
    fn clone(&self) -> Snapshot {
        crate::inside_memscope(|| Snapshot {
            state: self.state.clone(),
            baseline: self.baseline.clone(),
        })
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let (state, baseline) = (self.state.take(), self.baseline.take());
        crate::inside_memscope(|| drop((state, baseline)));
    }
}

/// The sites a report shows.
const SHOWN: usize = 10;

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sites = self.sites();
        let total: i64 = sites.iter().map(|s| s.bytes).sum();
        let blocks: i64 = sites.iter().map(|s| s.blocks).sum();
        let what = if self.baseline.is_some() { "change in live memory" } else { "live memory" };
        writeln!(f, "{what}: {} in {blocks} blocks", signed_bytes(total, self.baseline.is_some()))?;
        for site in sites.iter().take(SHOWN) {
            let place = match (&site.file, site.line) {
                (Some(file), Some(line)) => format!(" {file}:{line}"),
                (Some(file), None) => format!(" {file}"),
                _ => String::new(),
            };
            writeln!(
                f,
                "{:>12}  {}{place}",
                signed_bytes(site.bytes, self.baseline.is_some()),
                site.function
            )?;
        }
        if sites.len() > SHOWN {
            writeln!(f, "… and {} more sites", sites.len() - SHOWN)?;
        }
        Ok(())
    }
}

fn signed_bytes(n: i64, signed: bool) -> String {
    let text = bytes(n.unsigned_abs());
    match (signed, n < 0) {
        (true, true) => format!("-{text}"),
        (true, false) => format!("+{text}"),
        _ => text,
    }
}
