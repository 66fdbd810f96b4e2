//! Symbolized stacks: each unique address of the stacks a report asks for is resolved
//! once (in parallel, by the [`Symbolizer`]) and kept, and stacks are shown as frames
//! with the allocator's own frames trimmed and long names shortened.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use memscope_format::{Module, StackId};

use crate::recording::Recording;
use crate::short_name::short_name;
use crate::symbols::{Frame, ModuleRef, SymbolWarning, Symbolizer};
use crate::trim::{allocator_frames, AllocFns, Role};

/// The frames of a recording's stacks, resolved on demand.
pub struct StackSymbols<'r> {
    stacks: &'r HashMap<StackId, Vec<u64>>,
    symbolizer: Symbolizer,
    /// Owner tags: the pseudo-frame each tag's allocations end in, and its name.
    tags: Vec<(u64, String)>,
    resolved: HashMap<u64, Symbolized>,
    placeholders: HashMap<StackId, Frame>,
    keep_frames: bool,
    alloc_fns: AllocFns,
    full_names: bool,
    /// The recorder's depth limit, and the frame that ends a stack cut at it.
    truncated: Option<(usize, Frame)>,
}

/// The frames of one address, and what each is to trimming.
struct Symbolized {
    frames: Vec<Frame>,
    roles: Vec<Role>,
}

impl<'r> StackSymbols<'r> {
    /// Symbols for `recording`'s stacks; `keep_frames` shows the allocator's frames too.
    pub fn new(recording: &'r Recording, keep_frames: bool) -> Self {
        let modules =
            recording.modules().iter().filter(|m| is_file_backed(m)).map(module_ref).collect();
        StackSymbols {
            stacks: recording.stacks(),
            symbolizer: Symbolizer::new(modules),
            tags: tag_frames(recording.modules()),
            resolved: HashMap::new(),
            placeholders: HashMap::new(),
            keep_frames,
            alloc_fns: AllocFns::default(),
            full_names: false,
            truncated: truncated_frame(recording.meta().max_frames),
        }
    }

    /// Hides the frames of the wrappers `alloc_fns` names too, like the allocator's.
    /// Call before resolving.
    pub fn with_alloc_fns(self, alloc_fns: AllocFns) -> Self {
        StackSymbols { alloc_fns, ..self }
    }

    /// Shows functions by their whole names, templates and parameters included, rather
    /// than shortened by [`short_name`]. Call before resolving.
    pub fn with_full_names(self, full_names: bool) -> Self {
        StackSymbols { full_names, ..self }
    }

    /// Resolves the addresses of `stacks` that are not resolved yet.
    pub fn resolve(&mut self, stacks: impl IntoIterator<Item = StackId>) {
        let mut addresses = Vec::new();
        for stack in stacks {
            match self.stacks.get(&stack).filter(|frames| !frames.is_empty()) {
                Some(frames) => {
                    addresses.extend(frames.iter().filter(|a| !self.resolved.contains_key(a)))
                }
                None => {
                    self.placeholders.entry(stack).or_insert_with(|| placeholder(stack));
                }
            }
        }
        addresses.sort_unstable();
        addresses.dedup();
        let (tagged, code): (Vec<u64>, Vec<u64>) =
            addresses.into_iter().partition(|a| self.tags.iter().any(|(frame, _)| frame == a));
        for (address, frames) in self.symbolizer.resolve(&code) {
            let symbolized = self.symbolized(frames);
            self.resolved.insert(address, symbolized);
        }
        for address in tagged {
            let name = self.tags.iter().find(|(frame, _)| *frame == address).map(|(_, n)| n);
            let frames = vec![tag_frame(address, name.map_or("", String::as_str))];
            let symbolized = self.symbolized(frames);
            self.resolved.insert(address, symbolized);
        }
    }

    /// `frames` with their roles, judged on their full names, and then named as shown.
    fn symbolized(&self, mut frames: Vec<Frame>) -> Symbolized {
        let roles = frames.iter().map(|frame| Role::of(frame, &self.alloc_fns)).collect();
        if !self.full_names {
            for frame in &mut frames {
                if let Cow::Owned(short) = short_name(&frame.function) {
                    frame.function = short;
                }
            }
        }
        Symbolized { frames, roles }
    }

    /// Resolves every stack of the recording, for reports that group or filter by
    /// function and so need them all.
    pub fn resolve_all(&mut self) {
        let stacks: Vec<StackId> = self.stack_ids().collect();
        self.resolve(stacks);
    }

    /// Why some frames resolved so far read `module+0xOFFSET` or lack file and line:
    /// one entry per problem of each module an address was resolved in, in the
    /// recording's module order.
    pub fn warnings(&self) -> Vec<&SymbolWarning> {
        self.symbolizer.warnings()
    }

    /// The ids of every stack the recording defines, and of the "no stack" stack.
    pub fn stack_ids(&self) -> impl Iterator<Item = StackId> + '_ {
        self.stacks.keys().copied().chain([StackId::NONE])
    }

    /// The frames of a resolved stack, innermost first, inlined functions as frames of
    /// their own, without the allocator's frames at the innermost end unless asked to
    /// keep them.
    pub fn frames(&self, stack: StackId) -> Vec<&Frame> {
        self.locations(stack).into_iter().flat_map(|location| location.frames).collect()
    }

    /// The same frames grouped by the return address they were found at, innermost
    /// first: what pprof calls locations, each with its inlined frames (innermost
    /// first). Trimming the allocator's frames can leave an address with only the
    /// frames it was inlined into.
    pub fn locations(&self, stack: StackId) -> Vec<Location<'_>> {
        let Some(addresses) = self.stacks.get(&stack).filter(|frames| !frames.is_empty()) else {
            let placeholder = self.placeholders.get(&stack).map(std::slice::from_ref);
            return placeholder.into_iter().map(|frames| Location { address: 0, frames }).collect();
        };
        let symbolized: Vec<(u64, &Symbolized)> = addresses
            .iter()
            .filter_map(|&address| Some((address, self.resolved.get(&address)?)))
            .collect();
        let mut locations: Vec<Location> = symbolized
            .iter()
            .map(|&(address, symbolized)| Location { address, frames: &symbolized.frames })
            .collect();
        if !self.keep_frames {
            let roles: Vec<Role> =
                symbolized.iter().flat_map(|(_, s)| s.roles.iter().copied()).collect();
            let mut hidden = allocator_frames(&roles);
            let whole = locations
                .iter()
                .take_while(|location| {
                    let all_hidden = location.frames.len() <= hidden;
                    hidden -= if all_hidden { location.frames.len() } else { 0 };
                    all_hidden
                })
                .count();
            locations.drain(..whole);
            // The outermost frame is always kept, so a location is left.
            if let Some(first) = locations.first_mut() {
                first.frames = &first.frames[hidden..];
            }
        }
        if let Some((max_frames, frame)) = &self.truncated {
            if addresses.len() >= *max_frames {
                locations.push(Location { address: 0, frames: std::slice::from_ref(frame) });
            }
        }
        locations
    }
}

/// One return address of a stack and the frames symbolized there, innermost first: the
/// functions inlined at the address, then the function it belongs to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Location<'s> {
    /// The return address (0 for a stack the recorder could not capture).
    pub address: u64,
    /// Its frames, innermost first.
    pub frames: &'s [Frame],
}

/// The frame shown for a stack the recorder could not capture, or one the trace does not
/// define.
fn placeholder(stack: StackId) -> Frame {
    let function = if stack == StackId::NONE {
        "[no stack]".to_owned()
    } else {
        format!("[unknown stack {}]", stack.0)
    };
    Frame { function, file: None, line: None, module: "?".to_owned(), address: 0 }
}

/// The frame shown outermost in a stack as deep as the recorder's limit `max_frames`
/// (0: none known), whose callers the recorder did not keep: `[truncated at 64 frames]`.
fn truncated_frame(max_frames: u32) -> Option<(usize, Frame)> {
    let max = usize::try_from(max_frames).ok().filter(|&max| max > 0)?;
    let function = format!("[truncated at {max} frames]");
    Some((max, Frame { function, file: None, line: None, module: "?".to_owned(), address: 0 }))
}

/// The pseudo-module of an owner tag is named `[tag] NAME` and covers one address, the
/// frame that ends the stacks of the tag's allocations.
const TAG_MODULE_PREFIX: &str = "[tag] ";

fn tag_frames(modules: &[Module]) -> Vec<(u64, String)> {
    modules
        .iter()
        .filter_map(|m| {
            let name = m.path.strip_prefix(TAG_MODULE_PREFIX)?;
            Some((m.ranges.first()?.start, name.to_owned()))
        })
        .collect()
}

/// The frame that stands for owner tag `name`: `[tag NAME]`, outermost in its stacks.
fn tag_frame(address: u64, name: &str) -> Frame {
    Frame {
        function: format!("[tag {name}]"),
        file: None,
        line: None,
        module: "[tag]".into(),
        address,
    }
}

/// The owner tag a frame stands for, if it is a tag's frame.
pub fn tag_of(frame: &Frame) -> Option<&str> {
    (frame.module == "[tag]")
        .then(|| frame.function.strip_prefix("[tag ")?.strip_suffix(']'))
        .flatten()
}

/// The kernel's vDSO has no file to read symbols from.
fn is_file_backed(module: &Module) -> bool {
    let path = &module.path;
    !path.is_empty() && !path.starts_with("linux-vdso") && !path.starts_with('[')
}

fn module_ref(module: &Module) -> ModuleRef {
    ModuleRef {
        path: PathBuf::from(&module.path),
        build_id: (!module.build_id.is_empty()).then(|| module.build_id.clone()),
        load_bias: module.load_bias,
        ranges: module.ranges.clone(),
    }
}
