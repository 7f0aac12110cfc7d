//! The dashboard's "Try it" panel: a token request and an API call sent to a gateway by the
//! control plane on the signed-in admin's behalf, so that a new user can go from a client to a
//! proxied request without leaving the browser.
//!
//! The page cannot call the gateway itself: it is another origin, and the dashboard's CSP
//! allows the page to connect to its own origin only. So the control plane makes the two
//! requests, to the one gateway URL it was given (`gatehouse dev`'s own gateway, or
//! `--gateway-url`), on the API's own listen path: a signed-in admin cannot point it anywhere
//! else. Answers are cut at [`MAX_ANSWER_BYTES`] and bounded by [`TIMEOUT`].

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::rest::RestError;
use gatehouse_control::ControlPlane;

/// How long one tried request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a gateway's answer shown.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the page asks for.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Attempt {
    /// A client_credentials token for the client, with its secret.
    Token { api_id: String, client_id: String, client_secret: String },
    /// `GET <listen path><path>` with the token as a bearer token.
    Call { api_id: String, access_token: String, path: String },
}

/// Runs `attempt` against `gateway_url`; the answer is `{"request", "status", "content_type",
/// "body"}`: the gateway's status and body, whatever they are, since showing a refusal is the
/// point of trying.
pub async fn run(control: &ControlPlane, gateway_url: &str, attempt: Attempt) -> Result<Value, RestError> {
    let api_id = match &attempt {
        Attempt::Token { api_id, .. } | Attempt::Call { api_id, .. } => api_id,
    };
    let api =
        control.get_api(api_id).await.map_err(|e| RestError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    let base = format!("{}{}", gateway_url.trim_end_matches('/'), api.listen_path);
    let (request, shown) = match attempt {
        Attempt::Token { client_id, client_secret, .. } => {
            let url = format!("{base}oauth/token");
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"));
            let request = Request::builder()
                .method(Method::POST)
                .uri(&url)
                .header(AUTHORIZATION, format!("Basic {basic}"))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from_static(b"grant_type=client_credentials")));
            (request, format!("POST {url} (grant_type=client_credentials, the client's id and secret)"))
        }
        Attempt::Call { access_token, path, .. } => {
            // Below the listen path only: a path may not climb out of the API it names.
            let path = path.trim_start_matches('/');
            // Checked decoded too: the gateway resolves `%2e%2e` as `..` before it routes.
            let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            let climbs = |p: &str| p.split(['/', '\\']).any(|segment| segment == "..");
            if climbs(path) || climbs(&decoded) || path.contains(['\\', '#']) {
                return Err(RestError::new(
                    StatusCode::BAD_REQUEST,
                    "field \"path\": stay below the API's listen path",
                ));
            }
            let url = format!("{base}{path}");
            let request = Request::builder()
                .method(Method::GET)
                .uri(&url)
                .header(AUTHORIZATION, format!("Bearer {access_token}"))
                .body(Full::new(Bytes::new()));
            (request, format!("GET {url} (Authorization: Bearer <the token>)"))
        }
    };
    let request = request
        .map_err(|e| RestError::new(StatusCode::BAD_REQUEST, format!("cannot build the request: {e}")))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let unreachable =
        |why: String| RestError::new(StatusCode::BAD_GATEWAY, format!("the gateway at {gateway_url} {why}"));
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| unreachable(format!("did not answer within {} s", TIMEOUT.as_secs())))?
        .map_err(|e| unreachable(format!("cannot be reached: {e}")))?;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect())
        .await
        .map_err(|_| unreachable("did not finish its answer in time".to_owned()))?
        .map(|collected| String::from_utf8_lossy(&collected.to_bytes()).into_owned())
        .unwrap_or_else(|_| format!("(an answer over {MAX_ANSWER_BYTES} bytes, not shown)"));
    Ok(json!({ "request": shown, "status": status, "content_type": content_type, "body": body }))
}
