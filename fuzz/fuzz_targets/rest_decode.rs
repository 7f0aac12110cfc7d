//! The admin REST transcoder (`src/rest/`): a request's method, path, query, content type and
//! body, decoded (JSON or form), merged into the request message's JSON, decoded into the
//! typed message and handed to the real admin services over an in-memory control plane, as
//! `gatehouse dev` runs it.
//!
//! Input: `METHOD /path?query` on the first line, the content type on the second (may be
//! empty), the body after that. Each input gets a fresh control plane holding the API `my-api`
//! (OAuth, every grant) and the policy `gold`, the names the seeds use, so calls on clients,
//! tokens and policies get past "not found"; fresh, so runs are reproducible.

#![no_main]

use std::sync::LazyLock;

use gatehouse::admin::AdminServices;
use gatehouse::rest::{call, decode_request};
use gatehouse_control::ControlPlane;
use gatehouse_store::{AnyStateStore, AnyTokenStore, MemoryStateStore, MemoryTokenStore};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
});

/// What each input's control plane starts with, through the same REST calls.
const FIXTURES: [(&str, &str, &str); 2] = [
    (
        "POST",
        "/api/apis",
        r#"{"api_id": "my-api", "name": "My API", "listen_path": "/my-api/", "upstream_url": "http://127.0.0.1:9000",
            "oauth": {"allowed_grant_types": ["authorization_code", "client_credentials", "password", "refresh_token"],
                      "allowed_authorize_types": ["code"], "auth_login_redirect": "http://127.0.0.1:9001/login"}}"#,
    ),
    ("POST", "/api/portal/policies", r#"{"id": "gold", "name": "gold", "rate": 10, "per": 1}"#),
];

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |b| *b == b'\n');
    let (Some(request_line), Some(content_type)) = (lines.next(), lines.next()) else { return };
    let body = lines.next().unwrap_or_default();
    // hyper hands the transcoder a parsed method and URI: text, never raw bytes.
    let (Ok(request_line), Ok(content_type)) =
        (std::str::from_utf8(request_line), std::str::from_utf8(content_type))
    else {
        return;
    };
    let Some((method, target)) = request_line.split_once(' ') else { return };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let content_type = Some(content_type).filter(|c| !c.is_empty());
    let Ok((route, input)) = decode_request(method, path, query, content_type, body) else { return };
    RUNTIME.block_on(async {
        let control = ControlPlane::open(
            AnyStateStore::Memory(MemoryStateStore::new()),
            Some(AnyTokenStore::Memory(MemoryTokenStore::new())),
        )
        .await
        .expect("an in-memory control plane opens");
        let services = AdminServices::new(control);
        for (method, path, body) in FIXTURES {
            let (route, input) =
                decode_request(method, path, None, Some("application/json"), body.as_bytes())
                    .expect("the fixture requests decode");
            call(&services, route.rpc, input, Default::default()).await.expect("the fixtures apply");
        }
        // Errors are answers (400, 404, 409…); only a panic is a finding.
        let _ = call(&services, route.rpc, input, Default::default()).await;
    });
});
