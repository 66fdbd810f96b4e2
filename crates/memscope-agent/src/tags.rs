//! Owner tags: a name (a service, a rule, a tenant) given to the allocations a thread
//! makes while it is set. A tagged allocation's stack ends in a pseudo-frame, an
//! address no code has (`TAG_FRAME_BASE + id`, not canonical on x86_64), and the module
//! map holds a pseudo-module named `[tag] NAME` covering it. So the tag travels with the
//! stack: its free carries it wherever it happens, per-stack totals split by tag, and
//! readers of the trace learn the names from the module map, with no new record.

use alloc::string::String;
use alloc::vec::Vec;

use crate::control::ModuleRecord;
use crate::spin::SpinLock;

/// Where the tags' pseudo-frames start.
pub const TAG_FRAME_BASE: u64 = 0xffff_ff00_0000_0000;
/// The name prefix of a tag's pseudo-module.
pub const TAG_MODULE_PREFIX: &str = "[tag] ";

static NAMES: SpinLock<Vec<String>> = SpinLock::new(Vec::new());

/// The pseudo-frame of tag `id`.
pub(crate) fn frame_of(id: u32) -> u64 {
    TAG_FRAME_BASE + u64::from(id)
}

/// The tag of a frame, if it is a tag's pseudo-frame.
pub fn tag_of_frame(frame: u64) -> Option<u32> {
    frame.checked_sub(TAG_FRAME_BASE).and_then(|id| u32::try_from(id).ok()).filter(|&id| id != 0)
}

/// The id of `name` (from 1), and the pseudo-module to add when the name is new.
pub(crate) fn id_of(name: &str) -> (u32, Option<ModuleRecord>) {
    let mut names = NAMES.lock();
    if let Some(index) = names.iter().position(|known| known == name) {
        return (index as u32 + 1, None);
    }
    names.push(name.into());
    let id = names.len() as u32;
    let frame = frame_of(id);
    let module = ModuleRecord {
        path: alloc::format!("{TAG_MODULE_PREFIX}{name}"),
        load_bias: 0,
        build_id: Vec::new(),
        ranges: alloc::vec![frame..frame + 1],
    };
    (id, Some(module))
}

/// The name of tag `id`.
pub fn name_of(id: u32) -> Option<String> {
    NAMES.lock().get((id as usize).checked_sub(1)?).cloned()
}
