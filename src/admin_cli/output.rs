//! Rendering for people (aligned tables, `key: value` lines) and for scripts (proto3 JSON).

use std::collections::HashMap;

use anyhow::Context as _;

/// How a command prints what it got: `-o table|json|yaml` (`--json` is `-o json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables and `key: value` lines, for people.
    Table,
    /// Pretty proto3 JSON, the REST API's shapes.
    Json,
    /// The same fields as JSON, in YAML.
    Yaml,
}

/// `message` as pretty proto3 JSON, the shape the REST API returns (pbjson's serde impls).
pub fn json<T: serde::Serialize>(message: &T) -> anyhow::Result<String> {
    serde_json::to_string_pretty(message).context("cannot encode the response as JSON")
}

/// `message` as YAML with the same fields as [`json`]: through the JSON value, so pbjson's
/// proto3 conventions (64-bit integers as strings, timestamps as RFC 3339) hold in both.
pub fn yaml<T: serde::Serialize>(message: &T) -> anyhow::Result<String> {
    let value = serde_json::to_value(message).context("cannot encode the response")?;
    serde_yaml_ng::to_string(&value).context("cannot encode the response as YAML")
}

/// `message` in a data format; `None` for [`Format::Table`], which each command renders itself.
pub fn data<T: serde::Serialize>(format: Format, message: &T) -> Option<anyhow::Result<String>> {
    match format {
        Format::Table => None,
        Format::Json => Some(json(message)),
        Format::Yaml => Some(yaml(message)),
    }
}

/// A table whose column widths come from its content. The last column is not padded, so lines
/// carry no trailing blanks.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| cell(c)).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, value) in widths.iter_mut().zip(row) {
                *width = (*width).max(value.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate().take(columns) {
                let value = row.get(i).map(String::as_str).unwrap_or("");
                if i + 1 == columns {
                    line.push_str(value);
                } else {
                    line.push_str(value);
                    line.extend(std::iter::repeat_n(' ', width - value.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines for one object, keys aligned.
#[derive(Default)]
pub struct Fields {
    lines: Vec<(String, String)>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, key: impl Into<String>, value: impl AsRef<str>) -> &mut Self {
        self.lines.push((key.into(), cell(value.as_ref())));
        self
    }

    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in &self.lines {
            let pad = width - key.chars().count();
            let line = format!("{key}:{} {value}", " ".repeat(pad));
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A value made safe for one line of a terminal: control characters (a newline in a
/// description, or an escape sequence stored by someone) are shown escaped instead of breaking
/// the layout or driving the terminal.
fn cell(value: &str) -> String {
    if !value.chars().any(char::is_control) {
        return value.to_owned();
    }
    value
        .chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// `-` for an empty value, so a table column never looks shifted.
pub fn or_dash(value: &str) -> String {
    if value.is_empty() { "-".to_owned() } else { value.to_owned() }
}

/// Comma-separated values, `-` when there are none.
pub fn list(values: &[String]) -> String {
    or_dash(&values.join(","))
}

/// `k=v,k=v` in key order (maps come from protobuf in arbitrary order), `-` when empty.
pub fn map(values: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = values.iter().collect();
    pairs.sort();
    or_dash(&pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// A protobuf timestamp as RFC 3339, through pbjson's JSON form rather than date arithmetic
/// of our own.
pub fn timestamp(ts: Option<&pbjson_types::Timestamp>) -> String {
    ts.and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let mut t = Table::new(&["ID", "NAME", "PATH"]);
        t.row(vec!["a".into(), "long name".into(), "/a/".into()]);
        t.row(vec!["bbbb".into(), String::new(), "/b/".into()]);
        assert_eq!(t.render(), "ID    NAME       PATH\na     long name  /a/\nbbbb             /b/\n");
    }

    #[test]
    fn empty_last_cells_leave_no_trailing_blanks() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x".into(), String::new()]);
        assert_eq!(t.render(), "A  B\nx\n");
    }

    #[test]
    fn fields_align_and_control_characters_are_escaped() {
        let mut f = Fields::new();
        f.add("id", "x").add("description", "two\nlines\u{1b}[31m");
        assert_eq!(f.render(), "id:          x\ndescription: two\\nlines\\u{1b}[31m\n");
    }

    #[test]
    fn maps_are_sorted() {
        let m: HashMap<String, String> = [("b".into(), "2".into()), ("a".into(), "1".into())].into();
        assert_eq!(map(&m), "a=1,b=2");
        assert_eq!(map(&HashMap::new()), "-");
    }

    #[test]
    fn yaml_has_the_json_fields() {
        let value = serde_json::json!({"api_id": "a", "revision": "12", "tags": ["x"]});
        assert_eq!(yaml(&value).unwrap(), "api_id: a\nrevision: '12'\ntags:\n- x\n");
        assert!(data(Format::Table, &value).is_none());
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = pbjson_types::Timestamp { seconds: 0, nanos: 0 };
        assert!(timestamp(Some(&t)).starts_with("1970-01-01T00:00:00"), "{}", timestamp(Some(&t)));
        assert_eq!(timestamp(None), "-");
    }
}
