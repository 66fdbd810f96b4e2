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
