//! The files one report reads: a trace file, or a rotated series' directory.
//!
//! `memscope run --max-size SIZE --keep N` writes a directory of files named `000001`,
//! `000002`, … in the order they were written, and deletes the oldest beyond N. Each
//! file opens with a checkpoint, so the newest run of consecutively numbered files is a
//! recording of the time it holds; a file missing in the middle ends that run, and the
//! files older than the gap are left out (they cannot be joined to the newer ones).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::AnalyzeError;
use crate::trace_file::TraceFile;

/// The opened files of one recording, oldest first.
pub struct TraceFiles {
    files: Vec<TraceFile>,
    notes: Vec<String>,
}

impl TraceFiles {
    /// Opens the trace file `path`, or the newest run of the series in directory `path`.
    pub fn open(path: &Path) -> Result<TraceFiles, AnalyzeError> {
        let open_error = |source| AnalyzeError::Open { path: path.to_owned(), source };
        if !fs::metadata(path).map_err(open_error)?.is_dir() {
            return Ok(TraceFiles { files: vec![TraceFile::open(path)?], notes: Vec::new() });
        }
        let numbered = numbered_files(path).map_err(open_error)?;
        let (run, notes) = newest_run(numbered);
        if run.is_empty() {
            return Err(open_error(io::Error::other(
                "the directory holds no trace files (a rotated series holds files named 000001, 000002, ...)",
            )));
        }
        let files = run.iter().map(|path| TraceFile::open(path)).collect::<Result<_, _>>()?;
        Ok(TraceFiles { files, notes })
    }

    /// The files, oldest first.
    pub fn files(&self) -> &[TraceFile] {
        &self.files
    }

    /// What the user should know of files left out: one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// The series' files in `dir` and their numbers, in order; other entries are ignored.
fn numbered_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut numbered = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(number) = name.to_str().filter(|n| is_series_name(n)).and_then(|n| n.parse().ok())
        else {
            continue;
        };
        if entry.file_type()?.is_file() {
            numbered.push((number, entry.path()));
        }
    }
    numbered.sort();
    Ok(numbered)
}

/// Whether `name` is a series file's: six digits or more, as the recorder numbers them.
fn is_series_name(name: &str) -> bool {
    name.len() >= 6 && name.bytes().all(|b| b.is_ascii_digit())
}

/// The newest run of consecutive numbers, and a note for each gap before it.
fn newest_run(mut numbered: Vec<(u64, PathBuf)>) -> (Vec<PathBuf>, Vec<String>) {
    let mut start = numbered.len().saturating_sub(1);
    while start > 0 && numbered[start - 1].0 + 1 == numbered[start].0 {
        start -= 1;
    }
    let mut notes = Vec::new();
    if start > 0 {
        let (first_left, last_left) = (&numbered[0].1, &numbered[start - 1].1);
        let missing = numbered[start - 1].0 + 1;
        let missing_to = numbered[start].0 - 1;
        let gap = match missing == missing_to {
            true => format!("file {missing:06} is missing"),
            false => format!("files {missing:06} to {missing_to:06} are missing"),
        };
        let left = match start {
            1 => format!("the older file {} is not read", name_of(first_left)),
            n => format!(
                "the {n} older files ({} to {}) are not read",
                name_of(first_left),
                name_of(last_left)
            ),
        };
        notes.push(format!("{gap} from the series; {left}"));
    }
    (numbered.drain(start..).map(|(_, path)| path).collect(), notes)
}

fn name_of(path: &Path) -> String {
    path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(numbers: &[u64]) -> (Vec<String>, Vec<String>) {
        let numbered = numbers.iter().map(|&n| (n, PathBuf::from(format!("{n:06}")))).collect();
        let (run, notes) = newest_run(numbered);
        (run.iter().map(|path| name_of(path)).collect(), notes)
    }

    #[test]
    fn a_whole_series_is_read_oldest_first() {
        let (run, notes) = run_of(&[8, 9, 10]);
        assert_eq!(run, ["000008", "000009", "000010"]);
        assert!(notes.is_empty());
    }

    #[test]
    fn a_gap_leaves_out_the_files_before_it() {
        let (run, notes) = run_of(&[3, 4, 6, 7]);
        assert_eq!(run, ["000006", "000007"]);
        assert_eq!(
            notes,
            ["file 000005 is missing from the series; the 2 older files (000003 to 000004) are not read"]
        );
        let (run, notes) = run_of(&[1, 5]);
        assert_eq!(run, ["000005"]);
        assert_eq!(
            notes,
            ["files 000002 to 000004 are missing from the series; the older file 000001 is not read"]
        );
    }

    #[test]
    fn only_numbered_names_belong_to_a_series() {
        assert!(is_series_name("000012"));
        assert!(is_series_name("1000000"));
        assert!(!is_series_name("00012"));
        assert!(!is_series_name("000012.tmp"));
    }
}
