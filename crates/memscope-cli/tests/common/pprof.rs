//! Reading pprof profiles back: gzip, then prost, then lookups by id.

use std::collections::HashMap;
use std::io::Read;

use memscope_export::proto;
use prost::Message;

/// A gzip-compressed profile's message.
pub fn decode_bytes(gzipped: &[u8]) -> proto::Profile {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gzipped).read_to_end(&mut bytes).expect("the profile is gzip");
    proto::Profile::decode(bytes.as_slice()).expect("the profile decodes")
}

/// The profile in the file at `path`.
pub fn decode(path: &std::path::Path) -> proto::Profile {
    decode_bytes(&std::fs::read(path).expect("read the profile"))
}

/// A profile's tables, for looking things up by id.
pub struct Tables<'p> {
    pub profile: &'p proto::Profile,
    pub locations: HashMap<u64, &'p proto::Location>,
    pub functions: HashMap<u64, &'p proto::Function>,
}

impl<'p> Tables<'p> {
    pub fn new(profile: &'p proto::Profile) -> Self {
        Tables {
            profile,
            locations: profile.location.iter().map(|l| (l.id, l)).collect(),
            functions: profile.function.iter().map(|f| (f.id, f)).collect(),
        }
    }

    pub fn string(&self, index: i64) -> &str {
        &self.profile.string_table[index as usize]
    }

    /// The function and line of each line of `location`, innermost first.
    pub fn lines(&self, location: &proto::Location) -> Vec<(&str, i64)> {
        location
            .line
            .iter()
            .map(|line| (self.string(self.functions[&line.function_id].name), line.line))
            .collect()
    }

    /// The sample whose leaf function is `function`.
    pub fn sample(&self, function: &str) -> &'p proto::Sample {
        let found: Vec<&proto::Sample> = self
            .profile
            .sample
            .iter()
            .filter(|s| self.lines(self.locations[&s.location_id[0]])[0].0 == function)
            .collect();
        assert_eq!(found.len(), 1, "one sample ends in {function}");
        found[0]
    }

    /// The values of all samples whose leaf function is `function`, added up (a loop the
    /// compiler unrolled calls from several addresses: several stacks).
    pub fn leaf_values(&self, function: &str) -> Vec<i64> {
        let mut sum = vec![0; 4];
        for sample in &self.profile.sample {
            if self.lines(self.locations[&sample.location_id[0]])[0].0 == function {
                sum.iter_mut().zip(&sample.value).for_each(|(total, value)| *total += value);
            }
        }
        sum
    }

    /// The `bytes` label of a sample; Go's has no num_unit (the key names the unit).
    pub fn bytes_label(&self, sample: &proto::Sample) -> i64 {
        assert_eq!(sample.label.len(), 1, "one label");
        let label = &sample.label[0];
        assert_eq!((self.string(label.key), label.str, label.num_unit), ("bytes", 0, 0));
        label.num
    }
}
