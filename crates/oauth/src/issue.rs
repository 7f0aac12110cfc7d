//! The grants: from a parsed, authenticated token request to a stored session and the response.

use std::time::Duration;

use gatehouse_model::{Api, Client, GrantType, OAuthSettings, Session};
use gatehouse_store::TokenStore;
use serde::Serialize;

use crate::{ErrorCode, OAuthError, TokenHasher, TokenRequest, secret, token};

/// Storage-key domain of access tokens (see [`TokenHasher::key`]).
pub const ACCESS_TOKEN_KIND: &str = "at";

/// The successful token response (RFC 6749 §5.1), as Tyk shapes it.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds, as an integer: clients such as the Rust `oauth2` crate reject anything else.
    pub expires_in: u64,
    /// Lower case, as Tyk sends it; RFC 6749 §5.1 makes the value case-insensitive.
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Issues tokens for one API into a token store.
pub struct TokenIssuer<'a, S> {
    pub store: &'a S,
    pub hasher: &'a TokenHasher,
}

impl<S: TokenStore> TokenIssuer<'_, S> {
    /// Answers a token request for `api`. `find_client` looks a client id up among the API's
    /// clients.
    pub async fn token<'c>(
        &self,
        api: &Api,
        find_client: impl FnOnce(&str) -> Option<&'c Client>,
        request: &TokenRequest,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = api
            .oauth
            .as_ref()
            .ok_or_else(|| OAuthError::invalid_request("this API is not an OAuth 2.0 API"))?;
        let grant: GrantType = request
            .require("grant_type")?
            .parse()
            .map_err(|()| OAuthError::new(ErrorCode::UnsupportedGrantType, "unknown grant_type"))?;
        let client = authenticate(request, find_client)?;
        if !settings.allows(grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this API does not allow the {} grant", grant.as_str()),
            ));
        }
        match grant {
            GrantType::ClientCredentials => self.client_credentials(api, settings, client, now).await,
            GrantType::AuthorizationCode | GrantType::Password | GrantType::RefreshToken => {
                Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("the {} grant is not available in this Gatehouse version", grant.as_str()),
                ))
            }
        }
    }

    /// RFC 6749 §4.4: an access token for the client itself, never with a refresh token.
    async fn client_credentials(
        &self,
        api: &Api,
        settings: &OAuthSettings,
        client: &Client,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let ttl = effective_ttl(
            settings.access_token_ttl_secs,
            gatehouse_model::api::DEFAULT_ACCESS_TOKEN_TTL_SECS,
        );
        let session = Session {
            api_id: api.api_id.clone(),
            client_id: client.client_id.clone(),
            policy_id: client.policy_id.clone(),
            grant: GrantType::ClientCredentials,
            meta_data: client.meta_data.clone(),
            issued_at: now,
            expires_at: now + ttl,
        };
        let access_token = token::mint();
        let key = self.hasher.key(ACCESS_TOKEN_KIND, &access_token);
        self.store.put_session(&key, &session, Duration::from_secs(ttl)).await.map_err(|e| {
            tracing::error!(error = %e, "cannot store a new access token");
            OAuthError::new(ErrorCode::TemporarilyUnavailable, "token storage is unavailable")
        })?;
        tracing::info!(api_id = %api.api_id, client_id = %client.client_id, grant = "client_credentials", "access token issued");
        Ok(TokenResponse { access_token, expires_in: ttl, token_type: "bearer", refresh_token: None })
    }
}

fn effective_ttl(configured: u64, default: u64) -> u64 {
    if configured == 0 { default } else { configured }
}

/// RFC 6749 §2.3.1 / §3.2.1: a confidential client proves its secret.
fn authenticate<'c>(
    request: &TokenRequest,
    find_client: impl FnOnce(&str) -> Option<&'c Client>,
) -> Result<&'c Client, OAuthError> {
    let Some(credentials) = &request.credentials else {
        return Err(OAuthError::invalid_client(false));
    };
    let presented = credentials.client_secret.as_deref().unwrap_or("");
    match find_client(&credentials.client_id) {
        Some(client) if secret::verify(presented, &client.secret_hash) => Ok(client),
        Some(_) => Err(OAuthError::invalid_client(credentials.via_basic)),
        None => {
            secret::verify_dummy(presented);
            Err(OAuthError::invalid_client(credentials.via_basic))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_store::MemoryTokenStore;

    fn api(grants: Vec<GrantType>) -> Api {
        Api {
            api_id: "api".into(),
            name: "api".into(),
            listen_path: "/api/".into(),
            strip_listen_path: true,
            upstream: "http://127.0.0.1:1".parse().unwrap(),
            oauth: Some(OAuthSettings {
                allowed_grant_types: grants,
                allowed_authorize_types: vec![],
                auth_login_redirect: String::new(),
                access_token_ttl_secs: 0,
                refresh_token_ttl_secs: 0,
                code_ttl_secs: 0,
            }),
        }
    }

    fn client(secret: &str) -> Client {
        Client {
            client_id: "c".into(),
            api_id: "api".into(),
            client_name: String::new(),
            redirect_uri: String::new(),
            policy_id: "p".into(),
            meta_data: [("k".to_owned(), "v".to_owned())].into(),
            description: String::new(),
            secret_hash: secret::hash_generated(secret),
        }
    }

    async fn run(
        grants: Vec<GrantType>,
        body: &str,
    ) -> (Result<TokenResponse, OAuthError>, MemoryTokenStore, TokenHasher) {
        let store = MemoryTokenStore::new();
        let hasher = TokenHasher::new(&[3; 32]);
        let c = client("s3cret");
        let request = match TokenRequest::parse(body.as_bytes(), None) {
            Ok(r) => r,
            Err(e) => return (Err(e), store, hasher),
        };
        let issuer = TokenIssuer { store: &store, hasher: &hasher };
        let result = issuer.token(&api(grants), |id| (id == "c").then_some(&c), &request, 1000).await;
        (result, store, hasher)
    }

    #[tokio::test]
    async fn client_credentials_stores_a_session_under_the_hashed_token() {
        let (r, store, hasher) = run(
            vec![GrantType::ClientCredentials],
            "grant_type=client_credentials&client_id=c&client_secret=s3cret",
        )
        .await;
        let r = r.unwrap();
        assert_eq!((r.expires_in, r.token_type, r.refresh_token.is_none()), (3600, "bearer", true));
        let s = store.get_session(&hasher.key(ACCESS_TOKEN_KIND, &r.access_token)).await.unwrap().unwrap();
        assert_eq!((s.client_id.as_str(), s.api_id.as_str(), s.expires_at), ("c", "api", 4600));
        assert_eq!(s.meta_data.get("k").map(String::as_str), Some("v"));
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_are_invalid_client() {
        for body in [
            "grant_type=client_credentials&client_id=c&client_secret=nope",
            "grant_type=client_credentials&client_id=unknown&client_secret=s3cret",
            "grant_type=client_credentials",
        ] {
            let (r, ..) = run(vec![GrantType::ClientCredentials], body).await;
            assert_eq!(r.unwrap_err().error, ErrorCode::InvalidClient, "{body}");
        }
    }

    #[tokio::test]
    async fn grant_not_allowed_is_unauthorized_client() {
        let (r, ..) = run(
            vec![GrantType::AuthorizationCode],
            "grant_type=client_credentials&client_id=c&client_secret=s3cret",
        )
        .await;
        assert_eq!(r.unwrap_err().error, ErrorCode::UnauthorizedClient);
    }

    #[tokio::test]
    async fn unknown_or_missing_grant_type() {
        let (r, ..) =
            run(vec![GrantType::ClientCredentials], "grant_type=implicit&client_id=c&client_secret=s3cret")
                .await;
        assert_eq!(r.unwrap_err().error, ErrorCode::UnsupportedGrantType);
        let (r, ..) = run(vec![GrantType::ClientCredentials], "client_id=c&client_secret=s3cret").await;
        assert_eq!(r.unwrap_err().error, ErrorCode::InvalidRequest);
    }
}
