//! Streaming `watch` output: one line per sample, flushed at once so the output
//! can be followed live or piped into another program.

use std::io::{self, Write};

use crate::units::mib;
use crate::{Error, Sample, SampleSink};

/// The line layout of a [`SampleWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// Columns aligned for reading, sizes in MiB.
    Table,
    /// Comma-separated values under a header, sizes in bytes, an empty field for
    /// an unknown cgroup usage.
    Csv,
}

impl SampleFormat {
    fn header(self) -> String {
        match self {
            SampleFormat::Table => format!(
                "{:>9} {:>10} {:>10} {:>10} {:>10}",
                "T_MS", "RSS_MIB", "PSS_MIB", "SWAP_MIB", "CGROUP_MIB"
            ),
            SampleFormat::Csv => "t_ms,rss_bytes,pss_bytes,swap_bytes,cgroup_bytes".into(),
        }
    }

    fn row(self, sample: &Sample) -> String {
        match self {
            SampleFormat::Table => format!(
                "{:>9} {:>10.1} {:>10.1} {:>10.1} {:>10}",
                sample.t_ms,
                mib(sample.rss_bytes),
                mib(sample.pss_bytes),
                mib(sample.swap_bytes),
                sample.cgroup_bytes.map_or("-".into(), |bytes| format!("{:.1}", mib(bytes)))
            ),
            SampleFormat::Csv => format!(
                "{},{},{},{},{}",
                sample.t_ms,
                sample.rss_bytes,
                sample.pss_bytes,
                sample.swap_bytes,
                sample.cgroup_bytes.map_or(String::new(), |bytes| bytes.to_string())
            ),
        }
    }
}

/// Writes each sample as a line as soon as it is taken, after a header line.
#[derive(Debug)]
pub struct SampleWriter<W> {
    out: W,
    format: SampleFormat,
    header_written: bool,
}

impl<W: Write> SampleWriter<W> {
    /// A writer that prints nothing until the first sample, so a watch that fails
    /// at once leaves no stray header behind.
    pub fn new(out: W, format: SampleFormat) -> Self {
        SampleWriter { out, format, header_written: false }
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}

impl<W: Write> SampleSink for SampleWriter<W> {
    fn sample(&mut self, sample: &Sample) -> Result<(), Error> {
        if !self.header_written {
            self.write_line(&self.format.header()).map_err(Error::Write)?;
            self.header_written = true;
        }
        self.write_line(&self.format.row(sample)).map_err(Error::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [Sample; 2] = [
        Sample {
            t_ms: 0,
            rss_bytes: 1 << 20,
            pss_bytes: 512 << 10,
            swap_bytes: 0,
            cgroup_bytes: Some(3 << 20),
        },
        Sample {
            t_ms: 100,
            rss_bytes: 65 << 20,
            pss_bytes: 64 << 20,
            swap_bytes: 4096,
            cgroup_bytes: None,
        },
    ];

    fn written(format: SampleFormat) -> String {
        let mut writer = SampleWriter::new(Vec::new(), format);
        for sample in &SAMPLES {
            writer.sample(sample).unwrap();
        }
        String::from_utf8(writer.out).unwrap()
    }

    #[test]
    fn table_rows_align_under_the_header() {
        let expected = [
            "     T_MS    RSS_MIB    PSS_MIB   SWAP_MIB CGROUP_MIB",
            "        0        1.0        0.5        0.0        3.0",
            "      100       65.0       64.0        0.0          -",
        ];
        assert_eq!(written(SampleFormat::Table).lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn csv_leaves_unknown_cgroup_empty() {
        let expected = "\
t_ms,rss_bytes,pss_bytes,swap_bytes,cgroup_bytes
0,1048576,524288,0,3145728
100,68157440,67108864,4096,
";
        assert_eq!(written(SampleFormat::Csv), expected);
    }
}
