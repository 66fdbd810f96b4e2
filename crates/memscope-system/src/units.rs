//! Byte counts as people read them.

const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in mebibytes, the unit of `watch` tables and charts, where one fixed unit
/// keeps a column's growth easy to follow.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// Bytes in the largest binary unit that keeps the number at or above one.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn mib_is_binary() {
        assert_eq!(mib(3 << 19), 1.5);
    }
}
