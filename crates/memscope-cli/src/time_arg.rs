//! Times given on the command line, in milliseconds since the process started, and
//! moments: a time with the count of events of its clock tick (`MS#EVENTS`), as reports
//! print the highs they found.

use std::ops::Range;

use anyhow::{bail, Result};
use memscope_analyze::{EventFilter, Moment, Peak, Recording};

use crate::output::{moment_name, ms, short_ms};

/// A time as the user wrote it, and in nanoseconds.
#[derive(Clone, Debug)]
pub struct TimeArg {
    /// As given, for messages.
    pub text: String,
    /// Exactly the decimal given, in nanoseconds.
    pub ns: u64,
    /// For a moment named `MS#EVENTS`: the events of the tick at MS that it comes after.
    pub events: Option<usize>,
}

/// Parses a moment: milliseconds (`412.345`, after every event of that microsecond) or
/// a moment a report printed (`412.345#17`, after the first 17 events of its tick).
pub fn parse_moment(text: &str) -> Result<TimeArg, String> {
    let Some((time, events)) = text.split_once('#') else { return parse_ms(text) };
    let events = events.parse().map_err(|_| {
        format!("{text:?} is not a moment (like 412.345 or 412.345#17, as reports print them)")
    })?;
    Ok(TimeArg { text: text.to_owned(), events: Some(events), ..parse_ms(time)? })
}

/// A window of time, `FROM:TO` in milliseconds (TO not included), as `--peak-in` takes.
#[derive(Clone, Debug)]
pub struct WindowArg {
    from: TimeArg,
    to: TimeArg,
}

/// Parses `FROM:TO`, refusing a window that ends before it starts.
pub fn parse_window(text: &str) -> Result<WindowArg, String> {
    let Some((from, to)) = text.split_once(':') else {
        return Err(format!("{text:?} is not a window FROM:TO in milliseconds (like 200:300)"));
    };
    let (from, to) = (parse_ms(from)?, parse_ms(to)?);
    if to.ns <= from.ns {
        return Err(format!("the window {text:?} ends before it starts"));
    }
    Ok(WindowArg { from, to })
}

impl WindowArg {
    /// The window in nanoseconds.
    pub fn range(&self) -> Range<u64> {
        self.from.ns..self.to.ns
    }

    /// The highest live heap in the window, of what `filter` keeps; fails for a window
    /// starting after the recording.
    pub fn peak(&self, recording: &Recording, filter: &EventFilter) -> Result<Peak> {
        // A window may start before a rotated series' first checkpoint: its peak is
        // then that of the part the series holds, which the timeline's row shows too.
        match recording.covers_from_ns() {
            Some(from_ns) if self.to.ns > from_ns => {}
            _ => self.from.check_within("--peak-in", recording)?,
        }
        Ok(Peak::find_in(recording, filter, self.range()))
    }

    /// "200:300", as given.
    pub fn text(&self) -> String {
        format!("{}:{}", short_ms(self.from.ns), short_ms(self.to.ns))
    }
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
    Ok(TimeArg { text: text.to_owned(), ns, events: None })
}

impl TimeArg {
    /// The last nanosecond of the microsecond named: reports show times to the
    /// microsecond, so a time read off a report and given back covers every event shown
    /// at it.
    pub fn end_of_microsecond(&self) -> u64 {
        self.ns / 1000 * 1000 + 999
    }

    /// The moment named: after the first events of a tick for `MS#EVENTS`, else after
    /// every event of the microsecond.
    pub fn moment(&self) -> Moment {
        match self.events {
            Some(events) => Moment::within(self.ns, events),
            None => Moment::At(self.end_of_microsecond()),
        }
    }

    /// How reports name it: "412.345" or "412.345#17".
    pub fn name(&self) -> String {
        match self.events {
            Some(events) => moment_name(self.ns, events),
            None => ms(self.ns),
        }
    }

    /// Fails unless the time lies within `recording`; `option` names the flag.
    pub fn check_within(&self, option: &str, recording: &Recording) -> Result<()> {
        let end_ns = recording.end_ns();
        let from_ns = recording.covers_from_ns().unwrap_or(0);
        if self.ns / 1000 > end_ns / 1000 || self.ns / 1000 < from_ns / 1000 {
            let gone = match recording.covers_from_ns() {
                Some(_) => ": the older files of the rotated series are gone",
                None => "",
            };
            bail!(
                "{option} {} is outside the recording ({} to {} ms{gone})",
                self.text,
                short_ms(from_ns),
                short_ms(end_ns)
            );
        }
        Ok(())
    }
}

/// The two moments of `--from` (default: the start) and `--to` (default: the end) of
/// one recording, each with its name; fails for a time outside it.
pub fn from_to(
    from: Option<&TimeArg>,
    to: Option<&TimeArg>,
    recording: &Recording,
) -> Result<[(Moment, String); 2]> {
    let end_ns = recording.end_ns();
    let moment = |option: &str, time: Option<&TimeArg>, default_ns: u64| -> Result<_> {
        match time {
            Some(time) => {
                time.check_within(option, recording)?;
                Ok((time.moment(), time.name()))
            }
            None => Ok((Moment::At(default_ns), ms(default_ns))),
        }
    };
    if let (Some(from), Some(to)) = (from, to) {
        let order = |time: &TimeArg| (time.ns, time.events.unwrap_or(usize::MAX));
        if order(from) > order(to) {
            bail!(
                "--from {} is after --to {}: the first moment must come first",
                from.text,
                to.text
            );
        }
    }
    let start_ns = recording.covers_from_ns().unwrap_or(0);
    Ok([moment("--from", from, start_ns)?, moment("--to", to, end_ns)?])
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
    fn moments_name_events_of_a_tick() {
        let moment = parse_moment("216.153#3").unwrap();
        assert_eq!((moment.ns, moment.events), (216_153_000, Some(3)));
        assert_eq!(moment.name(), "216.153#3");
        assert_eq!(parse_moment("216.153").unwrap().events, None);
        for text in ["216.153#", "216.153#-1", "#3", "1#2#3"] {
            assert!(parse_moment(text).is_err(), "{text}");
        }
    }

    #[test]
    fn windows_run_forward() {
        assert_eq!(parse_window("200:300.5").unwrap().range(), 200_000_000..300_500_000);
        for text in ["300:200", "200:200", "200", "a:b", ":300"] {
            assert!(parse_window(text).is_err(), "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused() {
        for text in ["", ".", "-1", "1e3", "1.2345678", "abc", "99999999999999999999"] {
            assert!(parse_ms(text).is_err(), "{text}");
        }
    }
}
