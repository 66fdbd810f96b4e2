//! Collapsed ("folded") stacks, as flamegraph.pl, inferno and speedscope read them: one
//! line per stack, `outermost;...;innermost value`.

use std::collections::BTreeMap;
use std::io::Write;

use memscope_analyze::{SampleType, StackProfile};

use crate::error::ExportError;

/// The folded lines of `profile` counting `sample_type`, sorted, without a newline:
/// stacks with the same functions are added together, and stacks that count nothing
/// (or less than nothing, as a view of one thread can) are left out.
pub fn collapsed_lines(profile: &StackProfile, sample_type: SampleType) -> Vec<String> {
    let mut folded: BTreeMap<String, i64> = BTreeMap::new();
    for stack in &profile.stacks {
        let value = sample_type.value(&stack.counts);
        if value == 0 {
            continue;
        }
        let names: Vec<String> = stack
            .locations
            .iter()
            .rev()
            .flat_map(|location| location.frames.iter().rev())
            .map(|frame| frame_name(&frame.function))
            .collect();
        *folded.entry(names.join(";")).or_default() += value;
    }
    folded.into_iter().filter(|(_, value)| *value > 0).map(|(s, v)| format!("{s} {v}")).collect()
}

/// Writes the lines of [`collapsed_lines`], each with a newline.
pub fn write_collapsed(
    out: &mut impl Write,
    profile: &StackProfile,
    sample_type: SampleType,
) -> Result<(), ExportError> {
    let mut text = String::new();
    for line in collapsed_lines(profile, sample_type) {
        text.push_str(&line);
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(ExportError::write("collapsed stacks"))
}

/// A function name as one folded frame: `;` separates frames and a line ends at a
/// newline, so those become `:` and a space.
fn frame_name(function: &str) -> String {
    function.replace(';', ":").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_in_names_cannot_split_a_frame_or_a_line() {
        assert_eq!(frame_name("operator;(int)"), "operator:(int)");
        assert_eq!(frame_name("a\nb"), "a b");
    }
}
