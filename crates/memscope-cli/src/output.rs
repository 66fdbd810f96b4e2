//! How reports write numbers, times, frames and tables for people, and JSON for scripts.

use std::io::Write;

use anyhow::Result;
use memscope_analyze::{ns_to_ms, Frame, Place, Sampling};
use memscope_system::human_bytes;
use serde::Serialize;

/// The line a text report opens with when its figures are estimates from a sampled
/// recording (`memscope run --sample-rate`).
pub fn write_sampled_heading(out: &mut impl Write, sampling: Option<Sampling>) -> Result<()> {
    if let Some(Sampling { rate }) = sampling {
        writeln!(
            out,
            "estimates from samples of one in {rate} bytes on average (--sample-rate {rate}), scaled back as Go's pprof does"
        )?;
    }
    Ok(())
}

/// Bytes for people, with a minus sign when negative.
pub fn bytes(value: i64) -> String {
    let text = human_bytes(value.unsigned_abs());
    if value < 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// Bytes with a sign always, for differences.
pub fn signed_bytes(value: i64) -> String {
    if value > 0 {
        format!("+{}", bytes(value))
    } else {
        bytes(value)
    }
}

/// `part` of `whole` as a percentage with one decimal ("0.0%" of nothing).
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Milliseconds to the microsecond, as every report shows time.
pub fn ms(ns: u64) -> String {
    format!("{:.3}", ns_to_ms(ns))
}

/// A moment inside a clock tick, as `--at` takes it back: "216.153#3" is after the
/// first 3 events of the tick at 216.153 ms (the clock ticks when the collector looks,
/// every few milliseconds, so one tick can hold a high and the frees after it).
pub fn moment_name(ns: u64, events_at_time: usize) -> String {
    format!("{}#{events_at_time}", ms(ns))
}

/// Milliseconds without trailing zeros: "1234.5".
pub fn short_ms(ns: u64) -> String {
    let text = ms(ns);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `file:line`, or what of it is known.
fn location(file: Option<&str>, line: Option<u32>) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.to_owned(),
        _ => String::new(),
    }
}

/// A report row's function, then `file:line` if known.
pub fn place_name(place: &Place) -> String {
    let location = location(place.file.as_deref(), place.line);
    if location.is_empty() {
        place.function.clone()
    } else {
        format!("{} {location}", place.function)
    }
}

/// `function at file:line (module)`, leaving out what is unknown.
pub fn frame_line(frame: &Frame) -> String {
    let location = location(frame.file.as_deref(), frame.line);
    let at = if location.is_empty() { String::new() } else { format!(" at {location}") };
    format!("{}{at} ({})", frame.function, frame.module)
}

/// Pretty JSON and a newline. The text is made first so that a reader closing the pipe
/// surfaces as the I/O error it is.
pub fn write_json(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// Writes `rows` (the first is the header) as columns: every column right-aligned to its
/// widest cell, except the last, which is left as it is (names go there).
pub fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:>width$}  ", width = widths[column]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
