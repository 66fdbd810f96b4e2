//! Time as reports show it.

/// Milliseconds with microsecond precision: finer digits are clock noise, and a time
/// shown this way, given back as `--at`, names the same microsecond.
pub fn ns_to_ms(ns: u64) -> f64 {
    (ns / 1000) as f64 / 1000.0
}
