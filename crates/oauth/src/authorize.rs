//! The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) and the codes the identity
//! server obtains for it.
//!
//! Checked twice with the same code: by the gateway's `/oauth/authorize` before it sends the
//! user to the login page, and by the control plane's `authorize-client` before it mints a
//! code. Neither ever redirects to an unverified `redirect_uri` (no open redirect).

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_model::storage::GrantStore;
use gatehouse_model::{Api, AuthorizationCode, Client, GrantType, OAuthSettings};

use crate::token::{self, kind};
use crate::{ErrorCode, OAuthError, TokenHasher, pkce};

/// The parameters of an authorization request, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuthorizationParams<'a> {
    pub response_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    /// Present only to be refused: a secret has no place in a request that passes through the
    /// user agent, and a redirect would make the browser re-post it to the login page.
    pub client_secret: Option<&'a str>,
}

/// An authorization request that passed every check.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'c> {
    pub client: &'c Client,
    /// The registered redirect URI, which the request matched exactly.
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (the token request must then repeat it).
    pub redirect_uri_in_request: bool,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
}

/// The parameter caps of RFC 9700-minded servers: long enough for any real value, short enough
/// that logs and stores are not a dumping ground.
const MAX_PARAM_LEN: usize = 2048;

/// Validates an authorization request for `api`. `find_client` looks up the API's clients.
pub fn validate<'c>(
    api: &Api,
    params: AuthorizationParams<'_>,
    find_client: impl FnOnce(&str) -> Option<&'c Client>,
) -> Result<AuthorizationRequest<'c>, OAuthError> {
    let settings = settings(api)?;
    if params.client_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "client_secret must not be sent to the authorization endpoint",
        ));
    }
    for (name, value) in [
        ("redirect_uri", params.redirect_uri),
        ("state", params.state),
        ("scope", params.scope),
        ("client_id", params.client_id),
    ] {
        if value.is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(OAuthError::invalid_request(format!("{name} is longer than {MAX_PARAM_LEN} bytes")));
        }
    }
    let response_type = params
        .response_type
        .ok_or_else(|| OAuthError::invalid_request("missing parameter: response_type"))?;
    if response_type != "code" || !settings.allowed_authorize_types.iter().any(|t| t == response_type) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "response_type is not one this API allows",
        ));
    }
    if !settings.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this API does not allow the authorization_code grant",
        ));
    }
    let client_id =
        params.client_id.ok_or_else(|| OAuthError::invalid_request("missing parameter: client_id"))?;
    let client = find_client(client_id).ok_or_else(|| OAuthError::invalid_request("unknown client_id"))?;
    let redirect_uri = registered_redirect_uri(client, params.redirect_uri)?;
    crate::scope::check(params.scope)?;
    let code_challenge = pkce::check_challenge(params.code_challenge, params.code_challenge_method)?;
    if client.is_public() && code_challenge.is_none() {
        return Err(OAuthError::invalid_request("public clients must use PKCE (code_challenge with S256)"));
    }
    Ok(AuthorizationRequest {
        client,
        redirect_uri: redirect_uri.to_owned(),
        redirect_uri_in_request: params.redirect_uri.is_some(),
        state: params.state.map(str::to_owned),
        scope: params.scope.map(str::to_owned),
        code_challenge,
    })
}

/// The registered redirect URI the request names, compared exactly (RFC 9700 §4.1.3: no
/// prefix, no normalisation); a request naming none gets the client's only one. With several
/// registered, the request must name one (RFC 6749 §3.1.2.3).
fn registered_redirect_uri<'c>(client: &'c Client, given: Option<&str>) -> Result<&'c str, OAuthError> {
    let registered = client.redirect_uris.as_slice();
    match (registered, given) {
        ([], _) => Err(OAuthError::invalid_request("the client has no registered redirect_uri")),
        (_, Some(given)) => {
            registered.iter().find(|uri| *uri == given).map(String::as_str).ok_or_else(|| {
                OAuthError::invalid_request(
                    "redirect_uri does not match any of the client's registered redirect URIs",
                )
            })
        }
        ([only], None) => Ok(only),
        (_, None) => Err(OAuthError::invalid_request(
            "missing parameter: redirect_uri (the client has several registered redirect URIs)",
        )),
    }
}

/// What the identity server may override for the tokens (Tyk's `key_rules`).
#[derive(Debug, Default, Clone)]
pub struct SessionOverride {
    pub policy_id: Option<String>,
    pub meta_data: BTreeMap<String, String>,
}

/// A minted code and where the identity server sends the user with it.
#[derive(Debug)]
pub struct IssuedCode {
    pub code: String,
    pub redirect_to: String,
}

/// Mints a single-use code bound to the request, stores it, and builds `redirect_to`.
pub async fn issue_code<S: GrantStore>(
    store: &S,
    hasher: &TokenHasher,
    api: &Api,
    request: &AuthorizationRequest<'_>,
    overrides: SessionOverride,
    now: u64,
) -> Result<IssuedCode, OAuthError> {
    let settings = settings(api)?;
    let mut meta_data = request.client.meta_data.clone();
    meta_data.extend(overrides.meta_data);
    let record = AuthorizationCode {
        api_id: api.api_id.clone(),
        client_id: request.client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_in_request: request.redirect_uri_in_request,
        code_challenge: request.code_challenge.clone(),
        scope: request.scope.clone(),
        policy_id: overrides.policy_id.unwrap_or_else(|| request.client.policy_id.clone()),
        meta_data,
        issued_at: now,
    };
    let code = token::mint();
    store
        .put_code(&hasher.key(kind::CODE, &code), &record, Duration::from_secs(settings.code_ttl()))
        .await
        .map_err(crate::error::store_unavailable)?;
    let mut redirect_to = request.redirect_uri.clone();
    append_query(&mut redirect_to, "code", &code);
    if let Some(state) = &request.state {
        append_query(&mut redirect_to, "state", state);
    }
    tracing::info!(api_id = %api.api_id, client_id = %request.client.client_id, "authorization code issued");
    Ok(IssuedCode { code, redirect_to })
}

/// The login-page URL `/oauth/authorize` redirects to: the API's `auth_login_redirect` with the
/// request's parameters, so the identity server can continue the flow. A request carrying
/// `client_secret` never gets here: [`validate`] refuses it.
pub fn login_redirect(
    api: &Api,
    request: &AuthorizationRequest<'_>,
    params: AuthorizationParams<'_>,
) -> Result<String, OAuthError> {
    let settings = settings(api)?;
    let mut url = settings.auth_login_redirect.clone();
    append_query(&mut url, "response_type", "code");
    append_query(&mut url, "client_id", &request.client.client_id);
    append_query(&mut url, "redirect_uri", &request.redirect_uri);
    for (name, value) in [
        ("state", params.state),
        ("scope", params.scope),
        ("code_challenge", params.code_challenge),
        ("code_challenge_method", params.code_challenge_method),
    ] {
        if let Some(value) = value {
            append_query(&mut url, name, value);
        }
    }
    Ok(url)
}

/// Appends `name=value` to a URL's query, form-encoded, keeping any query it already has.
fn append_query(url: &mut String, name: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&serde_urlencoded::to_string([(name, value)]).unwrap_or_default());
}

fn settings(api: &Api) -> Result<&OAuthSettings, OAuthError> {
    api.oauth.as_ref().ok_or_else(|| OAuthError::invalid_request("this API is not an OAuth 2.0 API"))
}

#[cfg(test)]
mod tests {
    use gatehouse_model::RedirectUris;
    use gatehouse_model::test_util::{ApiBuilder, oauth_settings};

    use super::*;
    use crate::secret;

    fn api() -> Api {
        let settings = OAuthSettings {
            allowed_authorize_types: vec!["code".into()],
            auth_login_redirect: "http://idp.example/login".into(),
            ..oauth_settings(&[GrantType::AuthorizationCode])
        };
        ApiBuilder::new("api").oauth(settings).build()
    }

    fn client(public: bool) -> Client {
        Client {
            client_id: "c".into(),
            api_id: "api".into(),
            client_name: String::new(),
            redirect_uris: RedirectUris::one("http://app.example/cb?x=1"),
            policy_id: "p".into(),
            meta_data: BTreeMap::new(),
            description: String::new(),
            secret_hash: (!public).then(|| secret::hash_generated("s")),
        }
    }

    fn params<'a>() -> AuthorizationParams<'a> {
        AuthorizationParams {
            response_type: Some("code"),
            client_id: Some("c"),
            redirect_uri: Some("http://app.example/cb?x=1"),
            state: Some("xyz"),
            ..Default::default()
        }
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = client(false);
        assert!(validate(&api(), params(), |_| Some(&c)).is_ok());
        for bad in ["http://app.example/cb", "http://app.example/cb?x=1&y=2", "http://app.example/cb?x=1/"] {
            let p = AuthorizationParams { redirect_uri: Some(bad), ..params() };
            assert_eq!(
                validate(&api(), p, |_| Some(&c)).unwrap_err().error,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn several_redirect_uris_match_any_and_must_be_named() {
        let c = Client {
            redirect_uris: RedirectUris(vec![
                "http://app.example/cb?x=1".into(),
                "https://m.example/cb".into(),
            ]),
            ..client(false)
        };
        for given in ["http://app.example/cb?x=1", "https://m.example/cb"] {
            let p = AuthorizationParams { redirect_uri: Some(given), ..params() };
            let request = validate(&api(), p, |_| Some(&c)).unwrap();
            assert_eq!((request.redirect_uri.as_str(), request.redirect_uri_in_request), (given, true));
        }
        for bad in
            ["https://m.example/cb/", "https://m.example/", "http://app.example/cb?x=1;https://m.example/cb"]
        {
            let p = AuthorizationParams { redirect_uri: Some(bad), ..params() };
            assert_eq!(
                validate(&api(), p, |_| Some(&c)).unwrap_err().error,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        let p = AuthorizationParams { redirect_uri: None, ..params() };
        let err = validate(&api(), p, |_| Some(&c)).unwrap_err();
        assert_eq!(err.error, ErrorCode::InvalidRequest);
        assert!(err.error_description.contains("redirect_uri"), "{err:?}");
        // With one registered, leaving it out means that one.
        let one = client(false);
        let request = validate(&api(), p, |_| Some(&one)).unwrap();
        assert_eq!(
            (request.redirect_uri.as_str(), request.redirect_uri_in_request),
            ("http://app.example/cb?x=1", false)
        );
    }

    #[test]
    fn unknown_client_and_response_type_are_refused() {
        let c = client(false);
        assert!(validate(&api(), params(), |_| None).is_err());
        let p = AuthorizationParams { response_type: Some("token"), ..params() };
        assert_eq!(validate(&api(), p, |_| Some(&c)).unwrap_err().error, ErrorCode::UnsupportedResponseType);
    }

    #[test]
    fn public_clients_need_pkce() {
        let c = client(true);
        assert!(validate(&api(), params(), |_| Some(&c)).is_err());
        let p = AuthorizationParams {
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            code_challenge_method: Some("S256"),
            ..params()
        };
        assert!(validate(&api(), p, |_| Some(&c)).is_ok());
    }

    #[test]
    fn query_is_appended_with_encoding() {
        let mut url = "http://app.example/cb?x=1".to_owned();
        append_query(&mut url, "state", "a b&c");
        assert_eq!(url, "http://app.example/cb?x=1&state=a+b%26c");
    }
}
