//! How the library records: from code, from the environment, or from a `[memscope]`
//! table in the program's own configuration file.

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Error;

/// Whether the recording keeps a trace file.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only the in-memory state: stats, snapshots, the endpoint.
    #[default]
    Live,
    /// Also a trace file at `trace_path`, which every `memscope` report reads.
    Trace,
}

/// What to record and serve.
///
/// ```
/// let config = memscope::Config::from_toml_str(r#"
///     [memscope]
///     enabled = true
///     listen = "127.0.0.1:6060"
///     mode = "live"
///     dump_path = "memory.json"
///     dump_interval_s = 10
/// "#)?;
/// assert!(config.enabled);
/// assert_eq!(config.listen.as_deref(), Some("127.0.0.1:6060"));
/// # Ok::<(), memscope::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Record at all (a configuration file's switch).
    pub enabled: bool,
    /// Serve the endpoint here (`HOST:PORT`, `:0` for a free port); none by default.
    pub listen: Option<String>,
    /// Keep a trace file, or only the live state.
    pub mode: Mode,
    /// Where the trace goes with [`Mode::Trace`] (an existing file is never replaced).
    pub trace_path: Option<PathBuf>,
    /// Write a JSON snapshot of live memory per tag and per site here, every
    /// `dump_interval_s` seconds (written to a temporary file and renamed).
    pub dump_path: Option<PathBuf>,
    /// Seconds between dumps.
    pub dump_interval_s: u64,
    /// Let the endpoint listen beyond loopback (needs `token_file`).
    pub allow_remote: bool,
    /// The endpoint's bearer token, the first line of this file.
    pub token_file: Option<PathBuf>,
    /// Sample by bytes (0: record every allocation), as `memscope run --sample-rate`.
    pub sample_rate: u64,
    /// The deepest stack recorded.
    pub max_frames: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enabled: true,
            listen: None,
            mode: Mode::Live,
            trace_path: None,
            dump_path: None,
            dump_interval_s: 10,
            allow_remote: false,
            token_file: None,
            sample_rate: 0,
            max_frames: 64,
        }
    }
}

/// A configuration file whose `[memscope]` table is this library's.
#[derive(Deserialize)]
struct File {
    memscope: Option<Config>,
}

impl Config {
    /// The `[memscope]` table of a TOML document (other tables are the program's and
    /// are ignored). A document without the table is a disabled configuration.
    pub fn from_toml_str(text: &str) -> Result<Config, Error> {
        let file: toml::Table =
            text.parse().map_err(|e: toml::de::Error| Error::Config(one_line(&e)))?;
        let Some(table) = file.get("memscope") else {
            return Ok(Config { enabled: false, ..Config::default() });
        };
        let parsed: File = toml::Table::from_iter([("memscope".to_owned(), table.clone())])
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(one_line(&e)))?;
        parsed.memscope.unwrap_or_default().checked()
    }

    /// From the environment: `MEMSCOPE_CONFIG=path.toml` reads that file; `MEMSCOPE=1`
    /// records with the defaults (and `MEMSCOPE_LISTEN` serves). `None` when neither
    /// asks for anything.
    pub fn from_env() -> Option<Result<Config, Error>> {
        if let Some(path) = std::env::var_os("MEMSCOPE_CONFIG") {
            let read = std::fs::read_to_string(&path).map_err(|e| {
                Error::Config(format!("cannot read {}: {e}", PathBuf::from(&path).display()))
            });
            return Some(read.and_then(|text| Config::from_toml_str(&text)));
        }
        if std::env::var("MEMSCOPE").as_deref() != Ok("1") {
            return None;
        }
        let listen = std::env::var("MEMSCOPE_LISTEN").ok().filter(|l| !l.is_empty());
        Some(Ok(Config { listen, ..Config::default() }))
    }

    fn checked(self) -> Result<Config, Error> {
        if self.mode == Mode::Trace && self.trace_path.is_none() {
            return Err(Error::Config("mode = \"trace\" needs a trace_path".into()));
        }
        if self.dump_path.is_some() && self.dump_interval_s == 0 {
            return Err(Error::Config("dump_interval_s must be at least 1".into()));
        }
        if !(1..=256).contains(&self.max_frames) {
            return Err(Error::Config("max_frames must be 1 to 256".into()));
        }
        if self.allow_remote && self.token_file.is_none() {
            return Err(Error::Config("allow_remote needs a token_file".into()));
        }
        Ok(self)
    }
}

fn one_line(error: &toml::de::Error) -> String {
    error.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_programs_own_file_switches_memscope_on_and_bad_values_are_errors() {
        let config = Config::from_toml_str("[server]\nport = 80\n[memscope]\nenabled = true\nmode = \"trace\"\ntrace_path = \"t\"\n").unwrap();
        assert!(config.enabled);
        assert_eq!(config.mode, Mode::Trace);
        assert!(!Config::from_toml_str("[server]\nport = 80\n").unwrap().enabled);
        let bad = |text: &str| Config::from_toml_str(text).unwrap_err().to_string();
        assert!(bad("[memscope]\nmode = \"trace\"\n").contains("needs a trace_path"));
        assert!(bad("[memscope]\nmode = \"fast\"\n").contains("unknown variant"));
        assert!(bad("[memscope]\nspeed = 1\n").contains("unknown field"));
        assert!(bad("[memscope]\nallow_remote = true\n").contains("needs a token_file"));
        assert!(bad("[memscope\n").starts_with("memscope configuration: "));
    }
}
