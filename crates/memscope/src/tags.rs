//! Owner tags: memory attributed to a logical owner (a service, a rule, a tenant), as
//! a security scanner needs to learn which rule's cache holds its memory.
//!
//! A tag set on a thread goes with every block the thread allocates until it is
//! unset, and stays with the block wherever it is freed. Per-tag totals come from
//! [`stats_by_tag`]; pprof profiles carry the tag as a `tag` label
//! (`go tool pprof -tagfocus=tag=rule-0070`); traces keep it, and every `memscope`
//! report takes `--tag`.

use std::collections::BTreeMap;

use memscope_agent::tags::{name_of, tag_of_frame};

use crate::runtime;

/// Restores the thread's previous tag when dropped.
#[must_use = "the tag is unset when the guard is dropped"]
pub struct TagGuard {
    previous: u32,
}

/// Tags the calling thread's allocations with `name` until the guard is dropped.
///
/// ```no_run
/// let _guard = memscope::tag("rule-0070");
/// let cache: Vec<u8> = vec![0; 4096]; // owned by rule-0070
/// # drop(cache);
/// ```
pub fn tag(name: &str) -> TagGuard {
    let previous = crate::inside_memscope(|| {
        let id = memscope_agent::tag_id(name)?;
        Some(memscope_agent::set_thread_tag(id))
    });
    TagGuard { previous: previous.unwrap_or(0) }
}

impl Drop for TagGuard {
    fn drop(&mut self) {
        let previous = self.previous;
        crate::inside_memscope(|| memscope_agent::set_thread_tag(previous));
    }
}

/// Runs `f` with the calling thread's allocations tagged `name`.
pub fn with_tag<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let _guard = tag(name);
    f()
}

/// What one owner holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagStats {
    /// The tag.
    pub tag: String,
    /// Bytes its blocks hold now.
    pub live_bytes: u64,
    /// Its blocks alive now.
    pub live_blocks: u64,
    /// Bytes allocated under it so far.
    pub allocated_bytes: u64,
}

/// Live memory per tag, largest first (allocations made without a tag are left out).
pub fn stats_by_tag() -> Vec<TagStats> {
    crate::inside_memscope(|| {
        let snapshot = runtime::running()?.snapshot()?;
        let tags: BTreeMap<u32, u32> = snapshot
            .stack_defs()
            .iter()
            .filter_map(|def| Some((def.id.0, tag_of_frame(*def.frames.last()?)?)))
            .collect();
        let mut by_tag: BTreeMap<u32, TagStats> = BTreeMap::new();
        for totals in &snapshot.totals {
            let Some(&tag) = tags.get(&totals.stack.0) else { continue };
            let entry = by_tag.entry(tag).or_insert_with(|| TagStats {
                tag: name_of(tag).unwrap_or_default(),
                ..TagStats::default()
            });
            entry.live_bytes = entry.live_bytes.wrapping_add(totals.live_bytes);
            entry.live_blocks = entry.live_blocks.wrapping_add(totals.live_blocks);
            entry.allocated_bytes += totals.alloc_bytes;
        }
        let mut stats: Vec<TagStats> = by_tag.into_values().collect();
        stats.sort_by(|a, b| b.live_bytes.cmp(&a.live_bytes).then_with(|| a.tag.cmp(&b.tag)));
        Some(stats)
    })
    .unwrap_or_default()
}
