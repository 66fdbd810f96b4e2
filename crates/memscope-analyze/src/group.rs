//! Grouping frames into report rows, by function or by source line, as pprof does.

use std::collections::HashMap;

use serde::Serialize;

use crate::symbols::Frame;

/// What report rows are made of.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Granularity {
    /// One row per function (and its file).
    #[default]
    Functions,
    /// One row per function, file and line.
    Lines,
}

/// What a report row is about: a function, or one line of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Place {
    /// The function.
    pub function: String,
    /// Its source file, if known.
    pub file: Option<String>,
    /// The row's line; for a function row, the line that weighs most in it.
    pub line: Option<u32>,
}

/// The identity of a row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FrameKey<'f> {
    pub function: &'f str,
    pub file: Option<&'f str>,
    pub line: Option<u32>,
}

impl<'f> FrameKey<'f> {
    pub(crate) fn of(frame: &'f Frame, granularity: Granularity) -> Self {
        let line = match granularity {
            Granularity::Functions => None,
            Granularity::Lines => frame.line,
        };
        FrameKey { function: &frame.function, file: frame.file.as_deref(), line }
    }
}

/// A row being added up: its values and, for a function row, how much each of its lines
/// contributed, so the row can name the line that matters most.
#[derive(Default)]
pub(crate) struct Group<V> {
    pub value: V,
    lines: HashMap<Option<u32>, i64>,
}

impl<V> Group<V> {
    /// Counts `weight` for `line`.
    pub(crate) fn vote(&mut self, line: Option<u32>, weight: i64) {
        *self.lines.entry(line).or_default() += weight.abs();
    }

    /// The line with the most weight (the lowest line number among equals).
    fn line(&self) -> Option<u32> {
        self.lines
            .iter()
            .max_by_key(|(line, weight)| (**weight, std::cmp::Reverse(**line)))
            .and_then(|(line, _)| *line)
    }
}

/// Rows keyed by frame.
pub(crate) struct Groups<'f, V> {
    granularity: Granularity,
    groups: HashMap<FrameKey<'f>, Group<V>>,
}

/// One finished row.
pub(crate) struct GroupRow<V> {
    pub place: Place,
    pub value: V,
}

impl<'f, V: Default> Groups<'f, V> {
    pub(crate) fn new(granularity: Granularity) -> Self {
        Groups { granularity, groups: HashMap::new() }
    }

    /// The row of `frame`.
    pub(crate) fn entry(&mut self, frame: &'f Frame) -> &mut Group<V> {
        self.groups.entry(FrameKey::of(frame, self.granularity)).or_default()
    }

    /// The rows, in no particular order.
    pub(crate) fn into_rows(self) -> impl Iterator<Item = GroupRow<V>> + 'f
    where
        V: 'f,
    {
        self.groups.into_iter().map(|(key, group)| GroupRow {
            place: Place {
                function: key.function.to_owned(),
                file: key.file.map(str::to_owned),
                line: key.line.or_else(|| group.line()),
            },
            value: group.value,
        })
    }
}
