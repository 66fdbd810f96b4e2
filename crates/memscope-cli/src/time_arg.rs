//! Times given on the command line, in milliseconds since the process started.

use anyhow::{bail, Result};
use memscope_analyze::{Moment, Recording};

use crate::output::short_ms;

/// A time as the user wrote it, and in nanoseconds.
#[derive(Clone, Debug)]
pub struct TimeArg {
    /// As given, for messages.
    pub text: String,
    /// Exactly the decimal given, in nanoseconds.
    pub ns: u64,
}

/// Parses milliseconds with up to six decimals ("412.345"), exactly: a float would turn
/// 412.345 into 412.34499… and miss the microsecond a report showed.
pub fn parse_ms(text: &str) -> Result<TimeArg, String> {
    let invalid = || format!("{text:?} is not a time in milliseconds (like 250 or 412.345)");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty())
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 6
    {
        return Err(invalid());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid())? };
    let fraction_ns: u64 = format!("{fraction:0<6}").parse().map_err(|_| invalid())?;
    let ns = whole
        .checked_mul(1_000_000)
        .and_then(|ns| ns.checked_add(fraction_ns))
        .ok_or_else(invalid)?;
    Ok(TimeArg { text: text.to_owned(), ns })
}

impl TimeArg {
    /// The last nanosecond of the microsecond named: reports show times to the
    /// microsecond, so a time read off a report and given back covers every event shown
    /// at it.
    pub fn end_of_microsecond(&self) -> u64 {
        self.ns / 1000 * 1000 + 999
    }

    /// Fails unless the time lies within `recording`; `option` names the flag.
    pub fn check_within(&self, option: &str, recording: &Recording) -> Result<()> {
        let end_ns = recording.end_ns();
        if self.ns / 1000 > end_ns / 1000 {
            bail!("{option} {} is outside the recording (0 to {} ms)", self.text, short_ms(end_ns));
        }
        Ok(())
    }
}

/// The two moments of `--from` (default: the start) and `--to` (default: the end) of
/// one recording, each with its time in nanoseconds; fails for a time outside it.
pub fn from_to(
    from: Option<&TimeArg>,
    to: Option<&TimeArg>,
    recording: &Recording,
) -> Result<[(Moment, u64); 2]> {
    let end_ns = recording.end_ns();
    let moment = |option: &str, time: Option<&TimeArg>, default_ns: u64| -> Result<_> {
        match time {
            Some(time) => {
                time.check_within(option, recording)?;
                Ok((Moment::At(time.end_of_microsecond()), time.ns))
            }
            None => Ok((Moment::At(default_ns), default_ns)),
        }
    };
    Ok([moment("--from", from, 0)?, moment("--to", to, end_ns)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_ms("412.345").unwrap().ns, 412_345_000);
        assert_eq!(parse_ms("0.000001").unwrap().ns, 1);
        assert_eq!(parse_ms("5000").unwrap().ns, 5_000_000_000);
        assert_eq!(parse_ms(".5").unwrap().ns, 500_000);
    }

    #[test]
    fn nonsense_is_refused() {
        for text in ["", ".", "-1", "1e3", "1.2345678", "abc", "99999999999999999999"] {
            assert!(parse_ms(text).is_err(), "{text}");
        }
    }
}
