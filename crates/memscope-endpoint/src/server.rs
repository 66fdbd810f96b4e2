//! The HTTP server: binds where it may, checks each request, and answers it on a thread
//! of its own, so that a `?seconds=30` delta never holds the others up.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response};

use crate::error::EndpointError;
use crate::routes::{answer, Answer, Source};

/// Requests answered at once at most; more get 503.
const MAX_IN_FLIGHT: usize = 16;
/// The longest request line accepted.
const MAX_URL: usize = 4096;

/// Where and how to serve.
#[derive(Clone, Debug, Default)]
pub struct ServeConfig {
    /// `HOST:PORT`; `:PORT` means 127.0.0.1, and port 0 picks a free one.
    pub address: String,
    /// Serve a non-loopback address (needs `token`).
    pub allow_remote: bool,
    /// Every request must carry `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

/// Answers paths beyond the heap profiles (the Rust library's CPU profile).
pub trait Routes: Send + Sync {
    /// The answer for `path?query`, or `None` if the path is not one of these.
    fn answer(&self, path: &str, query: &str) -> Option<Answer>;
}

/// A running endpoint; stopped when dropped.
pub struct Server {
    address: SocketAddr,
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens as `config` says and serves `source` (and `extra`'s paths).
    pub fn start(
        config: &ServeConfig,
        source: Arc<dyn Source>,
        extra: Option<Arc<dyn Routes>>,
    ) -> Result<Server, EndpointError> {
        let address = resolve(&config.address)?;
        if !address.ip().is_loopback() && !config.allow_remote {
            return Err(EndpointError::NotLoopback(address.to_string()));
        }
        if config.allow_remote && config.token.as_deref().is_none_or(str::is_empty) {
            return Err(EndpointError::NoToken);
        }
        let checks = Arc::new(Checks { token: config.token.clone(), source, extra });
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        // The server is made on the accepting thread: its worker threads inherit that
        // thread's name, by which a program that records itself (the Rust library)
        // knows them as memscope's and leaves their allocations out.
        let thread = std::thread::Builder::new()
            .name("memscope-http".into())
            .spawn(move || {
                memscope_agent::ignore_current_thread();
                match tiny_http::Server::http(address) {
                    Ok(http) => {
                        let http = Arc::new(http);
                        let bound = http.server_addr().to_ip().unwrap_or(address);
                        let _ = bound_tx.send(Ok((bound, http.clone())));
                        accept(&http, &checks);
                    }
                    Err(err) => drop(bound_tx.send(Err(err.to_string()))),
                }
            })
            .map_err(|err| EndpointError::Listen {
                address: address.to_string(),
                reason: err.to_string(),
            })?;
        let listening = bound_rx.recv().unwrap_or_else(|_| Err("the server thread ended".into()));
        match listening {
            Ok((bound, http)) => Ok(Server { address: bound, http, thread: Some(thread) }),
            Err(reason) => {
                let _ = thread.join();
                Err(EndpointError::Listen { address: address.to_string(), reason })
            }
        }
    }

    /// The address it listens on (with the port picked, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops listening and waits for the accepting thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// `HOST:PORT`, with `:PORT` on loopback.
fn resolve(text: &str) -> Result<SocketAddr, EndpointError> {
    let bad = || EndpointError::BadAddress(text.to_owned());
    let full = if text.starts_with(':') { format!("127.0.0.1{text}") } else { text.to_owned() };
    let mut found = full.to_socket_addrs().map_err(|_| bad())?;
    found.next().ok_or_else(bad)
}

struct Checks {
    token: Option<String>,
    source: Arc<dyn Source>,
    extra: Option<Arc<dyn Routes>>,
}

fn accept(http: &tiny_http::Server, checks: &Arc<Checks>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    for request in http.incoming_requests() {
        if in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            respond(request, Answer::error(503, "too many requests at once"));
            continue;
        }
        let (checks, working) = (checks.clone(), in_flight.clone());
        let spawned =
            std::thread::Builder::new().name("memscope-request".into()).spawn(move || {
                memscope_agent::ignore_current_thread();
                let answer = checks.answer(&request);
                respond(request, answer);
                working.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Checks {
    fn answer(&self, request: &Request) -> Answer {
        if let Some(refused) = self.refusal(request) {
            return refused;
        }
        let url = request.url();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let extra = self.extra.as_ref().and_then(|routes| routes.answer(path, query));
        extra.or_else(|| answer(path, query, self.source.as_ref())).unwrap_or_else(|| {
            Answer::error(404, format!("no profile at {path}: see /debug/pprof/"))
        })
    }

    /// Why `request` is not answered, if it is not.
    fn refusal(&self, request: &Request) -> Option<Answer> {
        if let Some(token) = &self.token {
            let expected = format!("Bearer {token}");
            let given = header(request, "Authorization").unwrap_or_default();
            if !same(given.as_bytes(), expected.as_bytes()) {
                let mut refused =
                    Answer::error(401, "this endpoint needs Authorization: Bearer TOKEN");
                refused.headers.push(("WWW-Authenticate", "Bearer".into()));
                return Some(refused);
            }
        }
        if request.url().len() > MAX_URL {
            return Some(Answer::error(414, "the request line is too long"));
        }
        if request.body_length().unwrap_or(0) > 0 {
            return Some(Answer::error(413, "requests here carry no body"));
        }
        if *request.method() != Method::Get {
            let mut refused =
                Answer::error(405, format!("{} is not served here: use GET", request.method()));
            refused.headers.push(("Allow", "GET".into()));
            return Some(refused);
        }
        None
    }
}

fn header(request: &Request, name: &'static str) -> Option<String> {
    request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_owned())
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn respond(request: Request, answer: Answer) {
    let mut response = Response::from_data(answer.body).with_status_code(answer.status);
    let headers =
        std::iter::once(("Content-Type", answer.content_type.to_owned())).chain(answer.headers);
    for (name, value) in headers {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    let _ = request.respond(response);
}
