//! The JSON dump: started from a configuration, rewritten atomically every interval,
//! per tag and per site; an existing file that is not a memscope dump is refused and
//! left as it was.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use memscope::{with_tag, Config};

#[global_allocator]
static ALLOCATOR: memscope::Profiler<std::alloc::System> =
    memscope::Profiler::new(std::alloc::System);

/// What rule-0070 keeps.
#[inline(never)]
fn rule_cache() -> Vec<Vec<u8>> {
    let mut cache = Vec::with_capacity(3);
    for _ in 0..3 {
        cache.push(vec![0u8; 1000]);
    }
    cache
}

fn tag_entry(dump: &serde_json::Value, tag: &str) -> Option<(u64, u64)> {
    let entry = dump["tags"].as_array()?.iter().find(|t| t["tag"] == tag)?;
    Some((entry["live_bytes"].as_u64()?, entry["live_blocks"].as_u64()?))
}

#[test]
fn the_dump_shows_each_owner_s_live_memory_and_is_never_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    std::fs::write(&path, "{\"rules\": 12}\n").unwrap();
    let config =
        || Config { dump_path: Some(path.clone()), dump_interval_s: 1, ..Config::default() };
    let refused = memscope::start(config()).unwrap_err().to_string();
    assert_eq!(refused, format!("memscope configuration: dump_path {}: exists and is not a memscope dump; not replacing it", path.display()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"rules\": 12}\n", "left as it was");

    std::fs::remove_file(&path).unwrap();
    memscope::start(config()).unwrap();
    let cache = with_tag("rule-0070", rule_cache);
    let deadline = Instant::now() + Duration::from_secs(20);
    let dump = loop {
        assert!(Instant::now() < deadline, "no dump with rule-0070 in 20 s");
        // Every read parses: the file is replaced whole, never written in place.
        if let Ok(text) = std::fs::read_to_string(&path) {
            let dump: serde_json::Value =
                serde_json::from_str(&text).expect("a whole JSON document");
            if tag_entry(&dump, "rule-0070").is_some() {
                break dump;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        tag_entry(&dump, "rule-0070"),
        Some((3 * 1000 + 3 * 24, 4)),
        "three entries and the cache's index"
    );
    assert_eq!(dump["memscope_dump"], 1);
    assert_eq!(dump["pid"], std::process::id());
    let mut sites: Vec<(u64, u64)> = dump["sites"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["function"].as_str().unwrap().ends_with("dump::rule_cache"))
        .map(|s| (s["bytes"].as_u64().unwrap(), s["blocks"].as_u64().unwrap()))
        .collect();
    sites.sort();
    assert_eq!(sites, [(72, 1), (3000, 3)], "the index's line and the entries' line");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "owner-only");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["cache.json"], "no temporary file left beside it");
    drop(cache);
}
