//! pprof's `perftools.profiles.Profile`, gzip-compressed, as `go tool pprof` reads it: a
//! heap profile with Go's four sample types, one sample per stack.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use memscope_analyze::{
    tag_of, Frame, Location, ProfileStack, Recording, SampleType, StackProfile,
};
use memscope_format::Module;
use prost::Message;

use crate::error::ExportError;
use crate::proto;

/// Go's heap profile sample types, in Go's order.
const SAMPLE_TYPES: [(SampleType, &str); 4] = [
    (SampleType::AllocObjects, "count"),
    (SampleType::AllocSpace, "bytes"),
    (SampleType::InuseObjects, "count"),
    (SampleType::InuseSpace, "bytes"),
];

/// What a profile says beside its samples.
#[derive(Clone, Debug)]
pub struct PprofHeader {
    /// The sample type pprof shows unless told otherwise.
    pub default_sample_type: SampleType,
    /// Free-form lines (the command, the moment), shown by `pprof -comments`.
    pub comments: Vec<String>,
    /// For a profile of what changed between two moments (a delta), when they were, in
    /// nanoseconds since the start: the profile's time and duration are then the
    /// window's, as Go's `?seconds=` profiles say.
    pub window_ns: Option<(u64, u64)>,
}

/// The profile of `profile`'s stacks, with the mappings and start time of `recording`.
pub fn pprof_profile(
    recording: &Recording,
    profile: &StackProfile,
    header: &PprofHeader,
) -> proto::Profile {
    let mut builder = Builder::new(recording);
    let sample_type =
        SAMPLE_TYPES.iter().map(|&(kind, unit)| builder.value_type(kind.name(), unit)).collect();
    let sample = profile.stacks.iter().map(|stack| builder.sample(stack)).collect();
    let period_type = Some(builder.value_type("space", "bytes"));
    let comment = header.comments.iter().map(|c| builder.strings.index(c)).collect();
    let default_sample_type = builder.strings.index(header.default_sample_type.name());
    let start_ns = (recording.meta().start_unix_ms as i64).saturating_mul(1_000_000);
    let (time_nanos, duration_nanos) = match header.window_ns {
        Some((from, to)) => (start_ns.saturating_add(from as i64), to.saturating_sub(from) as i64),
        None => (start_ns, profile.time_ns as i64),
    };
    proto::Profile {
        sample_type,
        sample,
        mapping: builder.mappings,
        location: builder.locations,
        function: builder.functions,
        time_nanos,
        duration_nanos,
        period_type,
        // Go's heap profiles carry their MemProfileRate here; the values are already
        // scaled back, as Go's are.
        period: recording.sampling().map_or(1, |sampling| sampling.rate as i64),
        comment,
        default_sample_type,
        string_table: builder.strings.table,
        ..proto::Profile::default()
    }
}

/// Writes [`pprof_profile`] gzip-compressed, as pprof files are stored.
pub fn write_pprof(
    out: &mut impl Write,
    recording: &Recording,
    profile: &StackProfile,
    header: &PprofHeader,
) -> Result<(), ExportError> {
    let bytes = pprof_profile(recording, profile, header).encode_to_vec();
    let mut gzip = GzEncoder::new(out, Compression::default());
    gzip.write_all(&bytes)
        .and_then(|()| gzip.finish().map(drop))
        .map_err(ExportError::write("pprof profile"))
}

/// Strings, each stored once; index 0 is "".
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn index(&mut self, text: &str) -> i64 {
        if let Some(&index) = self.index.get(text) {
            return index;
        }
        let index = self.table.len() as i64;
        self.table.push(text.to_owned());
        self.index.insert(text.to_owned(), index);
        index
    }
}

/// The tables of a profile being built.
struct Builder<'r> {
    modules: &'r [Module],
    exe: &'r str,
    strings: Strings,
    mappings: Vec<proto::Mapping>,
    /// Module index → mapping id.
    mapping_ids: HashMap<usize, u64>,
    locations: Vec<proto::Location>,
    location_ids: HashMap<(u64, usize, String), u64>,
    functions: Vec<proto::Function>,
    function_ids: HashMap<(String, Option<String>), u64>,
}

impl<'r> Builder<'r> {
    fn new(recording: &'r Recording) -> Self {
        let strings =
            Strings { table: vec![String::new()], index: HashMap::from([(String::new(), 0)]) };
        let mut builder = Builder {
            modules: recording.modules(),
            exe: &recording.meta().exe,
            strings,
            mappings: Vec::new(),
            mapping_ids: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            functions: Vec::new(),
            function_ids: HashMap::new(),
        };
        // pprof takes mapping[0] for the main binary.
        if let Some(main) = builder.modules.iter().position(|m| m.path == builder.exe) {
            builder.mapping(main);
        }
        builder
    }

    fn value_type(&mut self, kind: &str, unit: &str) -> proto::ValueType {
        proto::ValueType { r#type: self.strings.index(kind), unit: self.strings.index(unit) }
    }

    fn sample(&mut self, stack: &ProfileStack) -> proto::Sample {
        let location_id = stack.locations.iter().map(|l| self.location(l)).collect();
        let counts = &stack.counts;
        let value = SAMPLE_TYPES.iter().map(|(kind, _)| kind.value(counts)).collect();
        // As Go writes it: the key names the unit, and pprof's tag filters only match
        // a label without num_unit against a range in bytes.
        let mut label = vec![proto::Label {
            key: self.strings.index("bytes"),
            num: block_size(stack),
            ..proto::Label::default()
        }];
        // An owner tag (the Rust library's `memscope::tag`) is a label, for -tagfocus.
        let tag = stack.locations.iter().flat_map(|l| l.frames.iter()).find_map(|f| tag_of(f));
        if let Some(tag) = tag {
            let (key, str) = (self.strings.index("tag"), self.strings.index(tag));
            label.push(proto::Label { key, str, ..proto::Label::default() });
        }
        proto::Sample { location_id, value, label }
    }

    fn location(&mut self, location: &Location) -> u64 {
        let first = location.frames.first().map_or(String::new(), |f| f.function.clone());
        let key = (location.address, location.frames.len(), first);
        if let Some(&id) = self.location_ids.get(&key) {
            return id;
        }
        let mapping_id = self.module_of(location.address).map_or(0, |module| self.mapping(module));
        let line = location
            .frames
            .iter()
            .map(|frame| proto::Line {
                function_id: self.function(frame),
                line: frame.line.map_or(0, i64::from),
                column: 0,
            })
            .collect();
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location {
            id,
            mapping_id,
            address: location.address,
            line,
            is_folded: false,
        });
        self.location_ids.insert(key, id);
        id
    }

    fn module_of(&self, address: u64) -> Option<usize> {
        self.modules.iter().position(|m| m.ranges.iter().any(|range| range.contains(&address)))
    }

    fn mapping(&mut self, module: usize) -> u64 {
        if let Some(&id) = self.mapping_ids.get(&module) {
            return id;
        }
        let m = &self.modules[module];
        let id = self.mappings.len() as u64 + 1;
        let build_id: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
        let mapping = proto::Mapping {
            id,
            memory_start: m.ranges.iter().map(|r| r.start).min().unwrap_or(0),
            memory_limit: m.ranges.iter().map(|r| r.end).max().unwrap_or(0),
            file_offset: 0,
            filename: self.strings.index(&m.path),
            build_id: self.strings.index(&build_id),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        };
        self.mappings.push(mapping);
        self.mapping_ids.insert(module, id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let key = (frame.function.clone(), frame.file.clone());
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name = self.strings.index(&frame.function);
        let filename = frame.file.as_deref().map_or(0, |file| self.strings.index(file));
        self.functions.push(proto::Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.function_ids.insert(key, id);
        id
    }
}

/// The size of the blocks a stack allocated, for Go's `bytes` label: their average
/// where they differ (rounded), as a sample aggregates all blocks of its stack.
fn block_size(stack: &ProfileStack) -> i64 {
    let c = &stack.counts;
    let (bytes, blocks) = if c.alloc_blocks > 0 {
        (c.alloc_bytes, c.alloc_blocks)
    } else {
        (c.live_bytes, c.live_blocks)
    };
    if blocks == 0 {
        0
    } else {
        (bytes + blocks / 2) / blocks
    }
}
