//! What an import gives back: the API with its warnings, or the place it failed; and JSON text
//! parsed with errors that place themselves the same way.

use gatehouse_model::Api;
use serde_json::Value;

/// An API definition converted from Tyk's format, with every field Gatehouse does not support
/// reported (never silently dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub api: Api,
    /// Each one `"<json path>: <why it is not supported / what Gatehouse does instead>"`.
    pub warnings: Vec<String>,
    /// The API is keyless because the definition says so (`authentication.enabled: false` in
    /// Tyk OAS, `use_keyless: true` in Classic), not because its authentication is missing.
    /// Only such an import may replace a protected API without the caller's opt-in.
    pub explicitly_keyless: bool,
}

/// A definition Gatehouse cannot import, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImportError {
    /// A JSON path such as `x-tyk-api-gateway.server.listenPath.value`, or `line 52, column 9`
    /// for a syntax error.
    pub path: String,
    pub message: String,
}

impl ImportError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Parses JSON text, with errors that name the line and column (serde_json's), e.g. for the
/// trailing comma that Tyk's own documentation example carries.
pub fn parse_json(text: &str) -> Result<Value, ImportError> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C" to its message; the position goes into
        // `path` instead, so the message reads once.
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        let message = if message == "trailing comma" {
            "trailing comma: JSON allows no comma before a closing } or ]; remove it".to_owned()
        } else {
            message.to_owned()
        };
        ImportError::new(format!("line {}, column {}", e.line(), e.column()), message)
    })
}
