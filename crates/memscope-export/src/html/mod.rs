//! The self-contained HTML report: one file with its script, style and data inline,
//! which opens in any browser from disk with no server and no network.

mod model;
mod page;

pub use self::model::{ReportModel, ReportOptions};
pub use self::page::write_html;
