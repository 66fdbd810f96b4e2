//! Which stacks and threads a report counts: pprof's `focus` and `ignore` (regular
//! expressions matched against the function, source file and module of a stack's
//! frames), an owner tag (pprof's `-tagfocus`) and a thread.

use std::collections::HashSet;

use memscope_format::{StackId, ThreadId};
use rayon::prelude::*;
use regex::Regex;

use crate::error::AnalyzeError;
use crate::stack_symbols::{tag_of, StackSymbols};
use crate::symbols::Frame;

/// The filters a user asked for.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    focus: Option<Regex>,
    ignore: Option<Regex>,
    tag: Option<String>,
    thread: Option<ThreadId>,
}

/// A [`Filter`] resolved to the stacks it keeps, as event replays use it.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    stacks: Option<HashSet<StackId>>,
    thread: Option<ThreadId>,
}

impl Filter {
    /// Keeps stacks with a frame whose function, file or module matches `focus`, drops
    /// stacks with one that matches `ignore`, and keeps only the events `thread` made.
    pub fn new(
        focus: Option<&str>,
        ignore: Option<&str>,
        thread: Option<ThreadId>,
    ) -> Result<Filter, AnalyzeError> {
        Ok(Filter {
            focus: compile("focus", focus)?,
            ignore: compile("ignore", ignore)?,
            tag: None,
            thread,
        })
    }

    /// Keeps, besides, only the allocations made under owner tag `tag` (the `memscope`
    /// crate's tags, a `[tag NAME]` frame in stacks), as pprof's `-tagfocus=tag=NAME`.
    pub fn with_tag(self, tag: Option<String>) -> Filter {
        Filter { tag, ..self }
    }

    /// Whether stacks are chosen by their frames, which then all need symbols.
    pub fn selects_stacks(&self) -> bool {
        self.focus.is_some() || self.ignore.is_some() || self.tag.is_some()
    }

    /// True if `frames` (one stack's, as shown) pass focus, ignore and the tag.
    pub fn keeps_frames(&self, frames: &[&Frame]) -> bool {
        let any_matches = |regex: &Regex| frames.iter().any(|frame| matches(regex, frame));
        let tagged = |tag: &String| frames.iter().any(|frame| tag_of(frame) == Some(tag.as_str()));
        self.focus.as_ref().is_none_or(any_matches)
            && !self.ignore.as_ref().is_some_and(any_matches)
            && self.tag.as_ref().is_none_or(tagged)
    }

    /// The stacks and thread to count. Symbolizes every stack when focus or ignore is set.
    pub fn resolve(&self, symbols: &mut StackSymbols) -> EventFilter {
        if !self.selects_stacks() {
            return EventFilter { stacks: None, thread: self.thread };
        }
        symbols.resolve_all();
        let candidates: Vec<StackId> = symbols.stack_ids().collect();
        let symbols = &*symbols;
        let kept = candidates
            .into_par_iter()
            .filter(|&stack| self.keeps_frames(&symbols.frames(stack)))
            .collect();
        EventFilter { stacks: Some(kept), thread: self.thread }
    }
}

/// Whether `regex` matches `frame`'s function, source file or module, as pprof's focus
/// matches a function's name and file names.
fn matches(regex: &Regex, frame: &Frame) -> bool {
    regex.is_match(&frame.function)
        || frame.file.as_deref().is_some_and(|file| regex.is_match(file))
        || regex.is_match(&frame.module)
}

fn compile(which: &'static str, pattern: Option<&str>) -> Result<Option<Regex>, AnalyzeError> {
    pattern.map(|pattern| regex(which, pattern)).transpose()
}

/// `pattern` compiled; an error names the option (`which`) it was given to.
pub(crate) fn regex(which: &'static str, pattern: &str) -> Result<Regex, AnalyzeError> {
    Regex::new(pattern).map_err(|err| AnalyzeError::Pattern {
        which,
        pattern: pattern.to_owned(),
        reason: one_line(&err),
    })
}

/// The regex crate explains syntax errors over several lines, pointing at the pattern;
/// the last line says what is wrong.
fn one_line(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_owned()
}

impl EventFilter {
    /// Counts everything.
    pub fn everything() -> EventFilter {
        EventFilter::default()
    }

    /// Counts events of one thread only.
    pub fn thread(&self) -> Option<ThreadId> {
        self.thread
    }

    /// Whether events of `thread` count.
    pub fn keeps_thread(&self, thread: ThreadId) -> bool {
        self.thread.is_none_or(|kept| kept == thread)
    }

    /// Whether events of `stack` count.
    pub fn keeps_stack(&self, stack: StackId) -> bool {
        self.stacks.as_ref().is_none_or(|kept| kept.contains(&stack))
    }

    /// True when nothing is filtered out.
    pub fn keeps_everything(&self) -> bool {
        self.stacks.is_none() && self.thread.is_none()
    }
}
