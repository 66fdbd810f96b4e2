//! How exports write a value for people: bytes in binary units, counts as they are.

use memscope_analyze::SampleType;

/// `value` of `kind`: "40.0 MiB" for bytes, "40" for blocks.
pub(crate) fn value_text(value: i64, kind: SampleType) -> String {
    if !kind.is_bytes() {
        return value.to_string();
    }
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = value.unsigned_abs() as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    let sign = if value < 0 { "-" } else { "" };
    if unit == 0 {
        format!("{sign}{} B", value.unsigned_abs())
    } else {
        format!("{sign}{scaled:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units_and_counts_as_they_are() {
        assert_eq!(value_text(41_943_040, SampleType::InuseSpace), "40.0 MiB");
        assert_eq!(value_text(-1536, SampleType::AllocSpace), "-1.5 KiB");
        assert_eq!(value_text(1023, SampleType::InuseSpace), "1023 B");
        assert_eq!(value_text(40, SampleType::AllocObjects), "40");
    }
}
