//! A service that leaks on purpose: a rule engine whose rule `rule-0002` caches 1000
//! bytes per request and never evicts them. It records itself with memscope and serves
//! `/debug/pprof/` so `go tool pprof` can find the leak:
//!
//! ```text
//! cargo run --release -p memscope --example leaky_service
//! go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//! ```
//!
//! `--config FILE` reads the `[memscope]` table of a TOML file instead (the service's
//! own configuration, as a real service would); `--requests N` handles N requests and
//! then only burns CPU in `checksum_forever` (for CPU profiles) without allocating, or
//! with `--exit` ends there (a trace gets its end at exit).

use std::alloc::System;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use memscope::{Config, Profiler};

#[global_allocator]
static ALLOCATOR: Profiler<System> = Profiler::new(System);

/// Bytes rule-0002 keeps per request.
const CACHED: usize = 1000;
/// The most requests the cache has room for (its index is allocated up front).
const MAX_REQUESTS: usize = 1 << 20;

static CACHE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn main() {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("leaky_service: {message}");
            std::process::exit(2);
        }
    };
    if let Err(error) = memscope::start(options.config) {
        eprintln!("leaky_service: {error}");
        std::process::exit(1);
    }
    if let Some(address) = memscope::endpoint() {
        println!("serving http://{address}/debug/pprof/");
    }
    CACHE.lock().unwrap().reserve_exact(MAX_REQUESTS);
    for request in 0..options.requests.unwrap_or(MAX_REQUESTS as u64) {
        handle(request);
        if options.requests.is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!("handled {} requests", options.requests.unwrap_or(MAX_REQUESTS as u64));
    if !options.exit {
        checksum_forever();
    }
}

/// One request: every rule looks at it, each under its own owner tag.
fn handle(request: u64) {
    let input = format!("request {request}: GET /index.html");
    memscope::with_tag("rule-0001", || black_box(tokenize(&input)));
    memscope::with_tag("rule-0002", || cache_match(&input));
    memscope::with_tag("rule-0003", || black_box(input.to_uppercase()));
}

fn tokenize(input: &str) -> usize {
    input.split_whitespace().map(str::to_owned).collect::<Vec<String>>().len()
}

/// The leak: every request's match is kept, and nothing ever evicts it.
#[inline(never)]
fn cache_match(input: &str) {
    let mut entry = vec![0u8; CACHED];
    entry[..input.len().min(CACHED)].copy_from_slice(&input.as_bytes()[..input.len().min(CACHED)]);
    CACHE.lock().unwrap().push(entry);
}

/// Busy without allocating, for `/debug/pprof/profile`.
#[inline(never)]
fn checksum_forever() -> ! {
    let mut sum = 0u64;
    loop {
        for i in 0..1_000_000u64 {
            sum = black_box(sum.wrapping_mul(31).wrapping_add(i));
        }
    }
}

struct Options {
    config: Config,
    requests: Option<u64>,
    exit: bool,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut config = Config { listen: Some("127.0.0.1:6060".into()), ..Config::default() };
        let (mut requests, mut exit) = (None, false);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--config" => {
                    let path = value()?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {path}: {e}"))?;
                    config = Config::from_toml_str(&text).map_err(|e| e.to_string())?;
                }
                "--requests" => {
                    requests = Some(value()?.parse().map_err(|_| "--requests needs a number")?)
                }
                "--exit" => exit = true,
                _ => return Err(format!("unknown argument {arg}")),
            }
        }
        Ok(Options { config, requests, exit })
    }
}
