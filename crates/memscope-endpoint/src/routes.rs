//! What each path answers, in Go's `net/http/pprof` layout plus memscope's own.

use std::time::Duration;

use memscope_analyze::SampleType;
use memscope_collector::LiveSnapshot;
use serde::Serialize;

use crate::profiles::{heap_profile, Rendering};

/// Where the answers come from: the recording being served.
pub trait Source: Send + Sync {
    /// The recording's state now, once it has started (a request may come first);
    /// `None` once it has ended, or if it never starts.
    fn snapshot(&self) -> Option<LiveSnapshot>;
}

impl Source for memscope_collector::CurrentLive {
    fn snapshot(&self) -> Option<LiveSnapshot> {
        memscope_collector::CurrentLive::snapshot(self)
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Headers besides the content type.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A successful answer.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Answer {
        Answer { status: 200, content_type, headers: Vec::new(), body }
    }

    /// An error, with a one-line body.
    pub fn error(status: u16, message: impl Into<String>) -> Answer {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        Answer { status, content_type: "text/plain; charset=utf-8", headers: Vec::new(), body }
    }
}

/// The longest `?seconds=` a delta profile may take.
pub const MAX_SECONDS: u64 = 600;

/// The answer to `GET path?query`, or `None` for a path this module does not serve.
pub fn answer(path: &str, query: &str, source: &dyn Source) -> Option<Answer> {
    let answer = match path {
        "/debug/pprof" | "/debug/pprof/" => {
            Answer::ok("text/html; charset=utf-8", index().into_bytes())
        }
        "/debug/pprof/heap" => heap(query, source, SampleType::InuseSpace),
        "/debug/pprof/allocs" => heap(query, source, SampleType::AllocSpace),
        "/debug/pprof/cmdline" => with_snapshot(source, |s| {
            Answer::ok("text/plain; charset=utf-8", s.meta.args.join("\0").into_bytes())
        }),
        "/debug/memscope/stats" => with_snapshot(source, |s| json(&Stats::of(s))),
        "/debug/memscope/timeline" => with_snapshot(source, |s| json(&timeline(s))),
        _ => return None,
    };
    Some(answer)
}

fn with_snapshot(source: &dyn Source, answer: impl FnOnce(&LiveSnapshot) -> Answer) -> Answer {
    match source.snapshot() {
        Some(snapshot) => answer(&snapshot),
        None => Answer::error(503, "the recording has not started or has ended"),
    }
}

fn json(value: &impl Serialize) -> Answer {
    match serde_json::to_vec(value) {
        Ok(body) => Answer::ok("application/json", body),
        Err(err) => Answer::error(500, format!("cannot write JSON: {err}")),
    }
}

/// What a heap profile request asks for.
#[derive(Debug, PartialEq, Eq)]
struct HeapQuery {
    text: bool,
    seconds: Option<u64>,
}

fn parse_heap_query(query: &str) -> Result<HeapQuery, String> {
    let mut parsed = HeapQuery { text: false, seconds: None };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "debug" => {
                parsed.text = match value {
                    "0" | "" => false,
                    "1" | "2" => true,
                    _ => return Err(format!("bad debug value {value:?}: give 0 or 1")),
                }
            }
            "seconds" => match value.parse::<u64>() {
                Ok(n @ 1..=MAX_SECONDS) => parsed.seconds = Some(n),
                _ => return Err(format!("bad seconds value {value:?}: give 1 to {MAX_SECONDS}")),
            },
            // Go's endpoint runs a garbage collection first; there is nothing to do.
            "gc" => {}
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}: this endpoint takes debug, seconds and gc"
                ))
            }
        }
    }
    Ok(parsed)
}

fn heap(query: &str, source: &dyn Source, default: SampleType) -> Answer {
    let query = match parse_heap_query(query) {
        Ok(query) => query,
        Err(message) => return Answer::error(400, message),
    };
    let Some(now) = source.snapshot() else {
        return Answer::error(503, "the recording has not started or has ended");
    };
    let (snapshot, baseline) = match query.seconds {
        None => (now, None),
        Some(seconds) => {
            std::thread::sleep(Duration::from_secs(seconds));
            match source.snapshot() {
                Some(later) => (later, Some(now)),
                None => return Answer::error(503, "the recording ended before the delta's end"),
            }
        }
    };
    let rendering = if query.text { Rendering::Text } else { Rendering::Pprof };
    match heap_profile(&snapshot, baseline.as_ref(), default, rendering) {
        Ok(body) if query.text => Answer::ok("text/plain; charset=utf-8", body),
        Ok(body) => {
            let mut answer = Answer::ok("application/octet-stream", body);
            let name = if default == SampleType::InuseSpace { "heap" } else { "allocs" };
            answer
                .headers
                .push(("Content-Disposition", format!("attachment; filename=\"{name}\"")));
            answer
        }
        Err(err) => Answer::error(500, err.to_string()),
    }
}

/// `/debug/memscope/stats`.
#[derive(Serialize)]
struct Stats {
    live_bytes: u64,
    live_blocks: u64,
    peak_bytes: u64,
    peak_time_ms: f64,
    total_allocated_bytes: u64,
    allocations: u64,
    frees: u64,
    rss_bytes: u64,
    peak_rss_bytes: u64,
}

impl Stats {
    fn of(snapshot: &LiveSnapshot) -> Stats {
        let (live_bytes, live_blocks) = snapshot.live();
        let (allocations, total_allocated_bytes) = snapshot.allocated();
        // Read now rather than from the last sample: a glance at a process that just
        // started must not say 0.
        let (rss_bytes, peak_rss_bytes) =
            resident(snapshot.meta.pid).unwrap_or((snapshot.rss_bytes, snapshot.peak_rss_bytes));
        Stats {
            live_bytes,
            live_blocks,
            peak_bytes: snapshot.peak_bytes,
            peak_time_ms: snapshot.peak_time_ns as f64 / 1e6,
            total_allocated_bytes,
            allocations,
            frees: snapshot.frees,
            rss_bytes,
            peak_rss_bytes,
        }
    }
}

/// The resident set and its peak (VmRSS, VmHWM) of process `pid`, bytes.
fn resident(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// One row of `/debug/memscope/timeline`.
#[derive(Serialize)]
struct TimelineRow {
    t_ms: f64,
    bytes: u64,
    high_ms: f64,
}

fn timeline(snapshot: &LiveSnapshot) -> Vec<TimelineRow> {
    let ms = |ns: u64| ns as f64 / 1e6;
    snapshot
        .highs
        .iter()
        .map(|high| TimelineRow {
            t_ms: ms(high.window_ns),
            bytes: high.bytes,
            high_ms: ms(high.time_ns),
        })
        .collect()
}

fn index() -> String {
    let profiles = [
        ("heap", "live memory by allocating stack (inuse_space; add ?debug=1 for text, ?seconds=N for a delta)"),
        ("allocs", "everything allocated by stack (alloc_space)"),
        ("cmdline", "the recorded program's command line"),
    ];
    let mut page = String::from("<html><head><title>/debug/pprof/</title></head><body>\n<p>memscope: profiles of the running program</p>\n<table>\n");
    for (name, what) in profiles {
        page.push_str(&format!(
            "<tr><td><a href=\"/debug/pprof/{name}\">{name}</a></td><td>{what}</td></tr>\n"
        ));
    }
    page.push_str("<tr><td><a href=\"/debug/memscope/stats\">stats</a></td><td>the headline numbers (JSON)</td></tr>\n");
    page.push_str("<tr><td><a href=\"/debug/memscope/timeline\">timeline</a></td><td>the live heap's highs every 100 ms (JSON)</td></tr>\n");
    page.push_str(
        "</table>\n<p>go tool pprof http://HOST:PORT/debug/pprof/heap</p>\n</body></html>\n",
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_queries_take_go_parameters_and_refuse_the_rest() {
        assert_eq!(parse_heap_query(""), Ok(HeapQuery { text: false, seconds: None }));
        assert_eq!(parse_heap_query("debug=1&gc=1"), Ok(HeapQuery { text: true, seconds: None }));
        assert_eq!(parse_heap_query("seconds=5"), Ok(HeapQuery { text: false, seconds: Some(5) }));
        assert!(parse_heap_query("debug=x").unwrap_err().contains("bad debug value"));
        assert!(parse_heap_query("seconds=0").unwrap_err().contains("bad seconds value"));
        assert!(parse_heap_query("seconds=601").is_err());
        assert!(parse_heap_query("fast=1").unwrap_err().contains("unknown parameter"));
    }
}
