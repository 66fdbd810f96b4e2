//! The live endpoint inside the program: Go's `/debug/pprof` layout from
//! `memscope-endpoint`, served from this process's recording, plus the CPU profile.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use memscope_endpoint::{Routes, ServeConfig, Source};

use crate::config::{Config, Mode};
use crate::cpu::CpuProfile;
use crate::error::Error;
use crate::runtime;

/// A running endpoint. Dropping it (or [`Server::stop`]) stops it; recording goes on.
pub struct Server {
    inner: Option<memscope_endpoint::Server>,
}

/// Serves `/debug/pprof/` (heap, allocs, profile, cmdline) and `/debug/memscope/` at
/// `address` (`HOST:PORT`; `:0` or port 0 picks a free port on loopback), starting
/// recording in live mode if it is not on. Only loopback addresses are served; a
/// configuration with `allow_remote` and a `token_file` is needed for others (see
/// [`crate::start`]).
pub fn serve(address: &str) -> Result<Server, Error> {
    crate::inside_memscope(|| serve_with(address, &Config::default()))
}

/// The endpoints [`crate::start`] serves for the rest of the process.
static KEPT: Mutex<Vec<Server>> = Mutex::new(Vec::new());

/// Serves for the rest of the process, as [`crate::start`] asks.
pub(crate) fn serve_for_good(address: &str, config: &Config) -> Result<(), Error> {
    let server = serve_with(address, config)?;
    KEPT.lock().unwrap_or_else(PoisonError::into_inner).push(server);
    Ok(())
}

/// Where the endpoint [`crate::start`] serves (its `listen`) listens, with the port
/// picked for port 0.
pub fn endpoint() -> Option<SocketAddr> {
    KEPT.lock().unwrap_or_else(PoisonError::into_inner).first().map(Server::local_addr)
}

fn serve_with(address: &str, config: &Config) -> Result<Server, Error> {
    let running = match runtime::running() {
        Some(running) => running,
        None => {
            let live = Config { enabled: true, mode: Mode::Live, listen: None, ..config.clone() };
            runtime::start(&live)?
                .ok_or_else(|| Error::CannotRecord("recording did not start".into()))?
        }
    };
    let token = config.token_file.as_deref().map(read_token).transpose()?;
    let serve_config =
        ServeConfig { address: address.to_owned(), allow_remote: config.allow_remote, token };
    let source: Arc<dyn Source> = Arc::new(running.current.clone());
    let cpu: Arc<dyn Routes> = Arc::new(CpuProfile);
    let inner = memscope_endpoint::Server::start(&serve_config, source, Some(cpu))?;
    Ok(Server { inner: Some(inner) })
}

/// The token: the file's first line, which must not be empty.
fn read_token(path: &Path) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!("cannot read the token file {}: {e}", path.display()))
    })?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(Error::Config(format!("the token file {} is empty", path.display())));
    }
    Ok(token.to_owned())
}

impl Server {
    /// Where it listens (with the port picked, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.as_ref().map(memscope_endpoint::Server::local_addr).expect("a running server")
    }

    /// Stops listening, and waits for the listening thread to end.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(inner) = self.inner.take() {
            crate::inside_memscope(|| inner.stop());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}
