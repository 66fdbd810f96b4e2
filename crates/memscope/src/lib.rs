//! memscope as a Rust library: the program's global allocator, wrapped, records every
//! allocation with its stack through the same recorder `memscope run` preloads. It
//! gives the program what Go's `runtime.ReadMemStats` and `net/http/pprof` give a Go
//! program:
//!
//! - [`stats`] and [`snapshot`] in code, with [`Snapshot::diff`] around suspect code;
//! - owner [`tag`]s that attribute memory to a service, a rule or a tenant, with
//!   [`stats_by_tag`], a `tag` label in pprof profiles and `--tag` on every report;
//! - a live `/debug/pprof` endpoint from [`serve`] (heap, allocs and a CPU profile);
//! - a JSON dump of live memory per tag and site, rewritten every few seconds;
//! - allocation assertions for tests in [`testing`].
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: memscope::Profiler<std::alloc::System> =
//!     memscope::Profiler::new(std::alloc::System);
//!
//! fn main() -> Result<(), memscope::Error> {
//!     let server = memscope::serve("127.0.0.1:6060")?;
//!     println!("go tool pprof http://{}/debug/pprof/heap", server.local_addr());
//!     // ... the service runs ...
//!     Ok(())
//! }
//! ```
//!
//! Recording can also be switched on without code changes beyond the allocator:
//! `MEMSCOPE=1` (with `MEMSCOPE_LISTEN=127.0.0.1:6060` to serve), or
//! `MEMSCOPE_CONFIG=path.toml` naming a file with a `[memscope]` table (see
//! [`Config`]). None of memscope's own memory appears in any figure: what the library,
//! its collector and its server allocate goes straight to the wrapped allocator.

mod config;
mod cpu;
mod dump;
mod error;
mod profiler;
mod runtime;
mod serve;
mod snapshot;
mod stats;
mod tags;
pub mod testing;

pub use crate::config::{Config, Mode};
pub use crate::error::Error;
pub use crate::profiler::Profiler;
pub use crate::serve::{endpoint, serve, Server};
pub use crate::snapshot::{snapshot, Site, Snapshot};
pub use crate::stats::{stats, Stats};
pub use crate::tags::{stats_by_tag, tag, with_tag, TagGuard, TagStats};

pub(crate) use crate::profiler::unrecorded as inside_memscope;

/// Starts recording as `config` says: live state only, or also a trace file; serving
/// the endpoint if `config.listen` is set, and dumping if `config.dump_path` is. A
/// second call while recording changes nothing. The global allocator must be
/// [`Profiler`], or nothing is recorded.
///
/// A server started here runs for the rest of the process.
pub fn start(config: Config) -> Result<(), Error> {
    inside_memscope(|| {
        if let Some(path) = &config.dump_path {
            dump::check_replaceable(path)?;
        }
        let started = runtime::start(&config)?;
        if started.is_none() {
            return Ok(());
        }
        if let Some(path) = &config.dump_path {
            dump::start(path, std::time::Duration::from_secs(config.dump_interval_s))?;
        }
        if let Some(listen) = &config.listen {
            serve::serve_for_good(listen, &config)?;
        }
        Ok(())
    })
}

/// Starts from the environment (`MEMSCOPE=1` or `MEMSCOPE_CONFIG=path.toml`) before
/// `main`; a configuration that cannot be used is reported on stderr, once, and the
/// program runs unrecorded.
pub(crate) fn start_from_env() {
    let Some(config) = Config::from_env() else { return };
    if let Err(error) = config.and_then(start) {
        eprintln!("memscope: {error}; not recording");
    }
}
