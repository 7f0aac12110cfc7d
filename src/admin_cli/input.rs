//! What commands read besides their flags: JSON files and secrets on stdin.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use anyhow::Context as _;

/// Reads `path` (`-`: stdin) as proto3 JSON of `T`, e.g. a `pb::Api` exactly as the REST API
/// takes it. pbjson refuses unknown fields, so a typo in a field name is an error, not a silently
/// ignored setting.
pub fn json_file<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {what} JSON from stdin"))?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    // serde_json's message names line and column, which is what one needs to fix the file.
    serde_json::from_str(&text).with_context(|| format!("{}: not a valid {what}", path.display()))
}

/// A secret (password, client secret, token) from stdin, never from a flag: flags end up in shell
/// history and in `ps` output for every user of the machine.
///
/// From a pipe, everything up to EOF minus one line ending (`printf` and `echo` both work). From
/// a terminal, one line: nobody should have to know about Ctrl-D. The input is echoed then, as
/// there is no terminal library here to turn echo off; a pipe or a file is the intended use.
pub fn secret_from_stdin(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        eprint!("{what} (shown as typed; prefer a pipe): ");
        stdin.read_line(&mut text)
    } else {
        stdin.lock().read_to_string(&mut text)
    }
    .with_context(|| format!("cannot read the {what} from stdin"))?;
    let secret = strip_line_ending(&text);
    if secret.is_empty() {
        anyhow::bail!("no {what} on stdin");
    }
    Ok(secret.to_owned())
}

fn strip_line_ending(text: &str) -> &str {
    text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).unwrap_or(text)
}

/// Parses `KEY=VALUE` (a `--meta` flag).
pub fn key_value(raw: &str) -> anyhow::Result<(String, String)> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => anyhow::bail!("expected KEY=VALUE, got {raw:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_ending_is_stripped_and_nothing_else() {
        assert_eq!(strip_line_ending("pw\n"), "pw");
        assert_eq!(strip_line_ending("pw\r\n"), "pw");
        assert_eq!(strip_line_ending(" pw \n\n"), " pw \n");
        assert_eq!(strip_line_ending("pw"), "pw");
    }

    #[test]
    fn key_values_split_on_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(key_value("a=").unwrap(), ("a".into(), String::new()));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }

    #[test]
    fn json_files_report_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.json");
        std::fs::write(&path, r#"{"listen": "/a/"}"#).unwrap();
        let err = format!("{:#}", json_file::<crate::pb::Api>(&path, "API").unwrap_err());
        assert!(err.contains("unknown field `listen`"), "{err}");
        assert!(json_file::<crate::pb::Api>(&dir.path().join("missing.json"), "API").is_err());
    }
}
