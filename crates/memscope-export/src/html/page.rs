//! The page around the report's data: the style and the script are compiled in, the
//! data goes in a JSON block the script reads.

use std::io::Write;

use crate::error::ExportError;
use crate::flame_graph::escape_xml;
use crate::html::model::ReportModel;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Writes the report page for `model`.
pub fn write_html(out: &mut impl Write, model: &ReportModel) -> Result<(), ExportError> {
    let data = serde_json::to_string(model)
        .map_err(|e| ExportError::Write { what: "HTML report", source: e.into() })?;
    // The data sits inside a <script> element, which only `</` can close early.
    let data = data.replace("</", "<\\/");
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<noscript>This report draws itself with JavaScript.</noscript>\n<script id=\"memscope-data\" type=\"application/json\">{data}</script>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        title = escape_xml(&model.title),
    );
    out.write_all(page.as_bytes()).map_err(ExportError::write("HTML report"))
}
