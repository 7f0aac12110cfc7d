//! The dashboard's static files.

use std::borrow::Cow;

/// `assets/`, embedded at build time in release builds.
#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Files;

/// One file, ready to serve.
pub struct Asset {
    pub body: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// A strong ETag from the file's SHA-256, quoted: the pages are revalidated, not cached
    /// blindly, so an upgrade is seen at the next load.
    pub etag: String,
}

/// The file at `path` (relative to `assets/`, no leading slash); `""` is `index.html`.
/// Paths with `..` or a backslash are never looked up.
pub fn get(path: &str) -> Option<Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    if path.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..")
        || path.contains('\\')
    {
        return None;
    }
    let file = Files::get(path)?;
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", hash.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    Some(Asset { body: file.data, content_type: content_type(path), etag })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_served_with_its_type_and_a_stable_etag() {
        let index = get("").expect("assets/index.html");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert_eq!(index.etag, get("index.html").unwrap().etag);
        assert!(index.etag.starts_with('"') && index.etag.len() == 34);
    }

    #[test]
    fn paths_that_climb_or_are_unknown_are_not_found() {
        for path in ["../Cargo.toml", "a/../index.html", "./index.html", "/index.html", "x\\y", "missing.js"]
        {
            assert!(get(path).is_none(), "{path}");
        }
    }
}
