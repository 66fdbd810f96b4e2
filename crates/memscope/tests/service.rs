//! The example service records itself with the library and serves `/debug/pprof/`:
//! its heap profile holds the leak's exact bytes, `go tool pprof` reads it (with
//! `-tagfocus` on owner tags), its CPU profile names its busy function, and bad
//! configurations and requests get clear refusals.

mod common;

use std::path::Path;

use common::{get, go_pprof, have_tool, leaf_sum, pprof, run_service, Service};

/// Bytes the service's rule-0002 leaks per request.
const CACHED: i64 = 1000;

/// A configuration file in `dir` with a `[memscope]` table of `lines`.
fn config(dir: &Path, lines: &str) -> String {
    let path = dir.join("service.toml");
    std::fs::write(
        &path,
        format!("[service]\nname = \"leaky\"\n\n[memscope]\nenabled = true\n{lines}\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn serving(dir: &Path, requests: u64) -> Service {
    let config = config(dir, "listen = \"127.0.0.1:0\"");
    let mut service = Service::start(&["--config", &config, "--requests", &requests.to_string()]);
    service.wait_for_requests();
    service
}

/// Go's sample types, in their order.
const INUSE_OBJECTS: usize = 2;
const INUSE_SPACE: usize = 3;

#[test]
fn the_heap_profile_holds_the_leaking_function_s_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let service = serving(dir.path(), 300);
    let (status, body) = service.get("/debug/pprof/heap", &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let profile = pprof::decode_bytes(&body);
    let leak = leaf_sum(&profile, "cache_match");
    assert_eq!((leak[INUSE_OBJECTS], leak[INUSE_SPACE]), (300, 300 * CACHED));
    let tables = pprof::Tables::new(&profile);
    let names: Vec<&str> = profile.function.iter().map(|f| tables.string(f.name)).collect();
    let recorder = |n: &&&str| n.contains("memscope_agent") || n.contains("memscope::profiler");
    assert!(
        !names.iter().any(|n| recorder(&n)),
        "no frame of the recorder in any stack: {names:?}"
    );
}

#[test]
fn go_tool_pprof_reads_the_endpoint_and_focuses_on_a_tag() {
    if !have_tool("go", "version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = serving(dir.path(), 200);
    let top = go_pprof(&[
        "-top",
        "-unit=B",
        "-sample_index=inuse_space",
        &service.url("/debug/pprof/heap"),
    ]);
    let line = top.lines().find(|l| l.contains("cache_match")).unwrap_or_else(|| panic!("{top}"));
    assert!(line.trim_start().starts_with("200000B "), "200 × 1000 B at cache_match: {line}");
    let (_, body) = service.get("/debug/pprof/heap", &[]);
    let saved = dir.path().join("heap.pb.gz");
    std::fs::write(&saved, body).unwrap();
    let focused = go_pprof(&[
        "-top",
        "-unit=B",
        "-sample_index=inuse_space",
        "-tagfocus=tag=rule-0002",
        saved.to_str().unwrap(),
    ]);
    assert!(focused.contains("Showing nodes accounting for 200000B,"), "{focused}");
    let other = go_pprof(&[
        "-top",
        "-sample_index=alloc_space",
        "-tagfocus=tag=rule-0001",
        saved.to_str().unwrap(),
    ]);
    assert!(!other.contains("cache_match"), "rule-0001 never ran cache_match: {other}");
}

#[test]
fn the_cpu_profile_names_the_busy_function() {
    let dir = tempfile::tempdir().unwrap();
    let service = serving(dir.path(), 10);
    let (status, body) = service.get("/debug/pprof/profile?seconds=2", &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let profile = pprof::decode_bytes(&body);
    let tables = pprof::Tables::new(&profile);
    let busiest = profile.sample.iter().max_by_key(|s| s.value[0]).expect("samples");
    let functions: Vec<&str> = busiest
        .location_id
        .iter()
        .flat_map(|id| tables.lines(tables.locations[id]))
        .map(|(f, _)| f)
        .collect();
    assert!(
        functions.iter().any(|f| f.ends_with("checksum_forever")),
        "the busiest stack is {functions:?}"
    );
    if have_tool("go", "version") {
        let saved = dir.path().join("cpu.pb.gz");
        std::fs::write(&saved, &body).unwrap();
        let top = go_pprof(&["-top", saved.to_str().unwrap()]);
        assert!(top.contains("checksum_forever"), "{top}");
    }
}

#[test]
fn unknown_paths_and_bad_query_values_get_4xx_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let service = serving(dir.path(), 1);
    let answer = |path: &str| {
        let (status, body) = service.get(path, &[]);
        (status, String::from_utf8_lossy(&body).trim().to_owned())
    };
    assert_eq!(
        answer("/debug/pprof/goroutine"),
        (404, "no profile at /debug/pprof/goroutine: see /debug/pprof/".into())
    );
    assert_eq!(
        answer("/debug/pprof/profile?seconds=0"),
        (400, "bad seconds value \"0\": give 1 to 600".into())
    );
    assert_eq!(
        answer("/debug/pprof/heap?seconds=x"),
        (400, "bad seconds value \"x\": give 1 to 600".into())
    );
    assert_eq!(
        answer("/debug/pprof/profile?hz=9"),
        (400, "unknown parameter \"hz\": this profile takes seconds".into())
    );
}

/// The one line the service printed on stderr, with its exit status.
fn refusal(args: &[&str]) -> (Option<i32>, String) {
    let output = run_service(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code(), stderr.trim().to_owned())
}

#[test]
fn a_remote_address_is_refused_without_opting_in_and_needs_the_token_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let remote = config(dir.path(), "listen = \"0.0.0.0:0\"");
    let (code, message) = refusal(&["--config", &remote, "--requests", "1"]);
    assert_eq!(code, Some(1));
    assert!(message.contains("0.0.0.0:0") && message.contains("loopback"), "{message}");

    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let opted_in = config(
        dir.path(),
        &format!(
            "listen = \"0.0.0.0:0\"\nallow_remote = true\ntoken_file = \"{}\"",
            token.display()
        ),
    );
    let mut service = Service::start(&["--config", &opted_in, "--requests", "1"]);
    service.wait_for_requests();
    let port = service.address.rsplit(':').next().unwrap().to_owned();
    let address = format!("127.0.0.1:{port}");
    assert_eq!(get(&address, "/debug/memscope/stats", &[]).0, 401);
    assert_eq!(get(&address, "/debug/memscope/stats", &["Authorization: Bearer wrong"]).0, 401);
    assert_eq!(get(&address, "/debug/memscope/stats", &["Authorization: Bearer s3cret"]).0, 200);
}

#[test]
fn bad_configurations_and_a_taken_address_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = config(dir.path(), "mode = \"fast\"");
    let (code, message) = refusal(&["--config", &bad, "--requests", "1"]);
    assert_eq!(code, Some(2));
    assert!(
        message.starts_with("leaky_service: memscope configuration: ") && message.contains("fast"),
        "{message}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let busy = config(dir.path(), &format!("listen = \"{address}\""));
    let (code, message) = refusal(&["--config", &busy, "--requests", "1"]);
    assert_eq!(code, Some(1));
    assert!(message.contains(&address.to_string()), "{message}");
}
