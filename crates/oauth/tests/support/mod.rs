//! Fixtures for the OAuth logic tests: two OAuth APIs, clients of every kind, resource owners,
//! and the in-memory token store (which passes the same contract tests as the Redis one).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_model::storage::{FailurePolicy, GrantStore, SessionStore};
use gatehouse_model::test_util::ApiBuilder;
use gatehouse_model::{
    Api, Client, ConfigState, GrantType, OAuthSettings, RedirectUris, RefreshGrant, ResourceOwner,
    SecretHash, Session,
};
use gatehouse_oauth::argon2_pool;
use gatehouse_oauth::authorize::{self, AuthorizationParams, IssuedCode, SessionOverride};
use gatehouse_oauth::throttle::{DEFAULT_POLICY, Guard};
use gatehouse_oauth::token::kind;
use gatehouse_oauth::{ErrorCode, Issued, OAuthError, TokenHasher, TokenIssuer, TokenRequest, secret};
use gatehouse_store::MemoryTokenStore;

/// The API under test, and a second one whose tokens the first must not accept.
pub const API_ID: &str = "orders";
pub const OTHER_API_ID: &str = "billing";
/// Registered redirect URI; it already has a query, which the code must be appended to.
pub const REDIRECT_URI: &str = "https://app.example/callback?tenant=7";
/// Confidential client with a generated secret (SHA-256 hash). Also registered, with the same
/// secret, on [`OTHER_API_ID`].
pub const CONFIDENTIAL: &str = "backend";
/// A second confidential client with a generated secret.
pub const PARTNER: &str = "partner";
/// Confidential client with an admin-chosen secret (Argon2id hash).
pub const CHOSEN: &str = "legacy";
pub const CHOSEN_SECRET: &str = "correct horse battery staple";
/// Public client: no secret, PKCE only.
pub const PUBLIC: &str = "spa";
pub const CLIENT_POLICY: &str = "client-policy";
/// A resource owner with a policy of their own, and one without.
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "down the rabbit hole";
pub const USER_POLICY: &str = "user-policy";
pub const PLAIN_USERNAME: &str = "bob";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The clock every test passes in (the store's own expiry runs on real time).
pub const NOW: u64 = 1_700_000_000;
pub const DEFAULT_ACCESS_TTL: u64 = 3600;
pub const DEFAULT_REFRESH_TTL: u64 = 14 * 24 * 3600;

pub fn settings(grants: &[GrantType]) -> OAuthSettings {
    OAuthSettings {
        allowed_grant_types: grants.to_vec(),
        allowed_authorize_types: vec!["code".into()],
        auth_login_redirect: "https://idp.example/login".into(),
        access_token_ttl_secs: 0,
        refresh_token_ttl_secs: 0,
        code_ttl_secs: 0,
        notifications: None,
        error_status: None,
    }
}

/// Every grant, refresh tokens included.
pub fn all_grants() -> OAuthSettings {
    settings(&GrantType::ALL)
}

pub fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Form-encodes a token request body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs always encode")
}

/// An `Authorization: Basic` header value (RFC 6749 §2.3.1).
pub fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", form_part(client_id), form_part(secret))))
}

fn form_part(s: &str) -> String {
    form(&[("x", s)]).trim_start_matches("x=").to_owned()
}

/// Argon2id hashes take tens of milliseconds: compute each once per test binary.
fn argon2(cell: &'static OnceLock<SecretHash>, secret: &str) -> SecretHash {
    cell.get_or_init(|| secret::hash_chosen(secret).expect("Argon2id hashing works")).clone()
}

fn phc(hash: SecretHash) -> String {
    match hash {
        SecretHash::Argon2(phc) => phc,
        other => panic!("hash_chosen must give Argon2id, got {other:?}"),
    }
}

fn client(api_id: &str, client_id: &str, secret_hash: Option<SecretHash>) -> Client {
    Client {
        client_id: client_id.into(),
        api_id: api_id.into(),
        client_name: format!("{client_id} app"),
        redirect_uris: RedirectUris::one(REDIRECT_URI),
        policy_id: CLIENT_POLICY.into(),
        meta_data: meta(&[("tier", "gold"), ("region", "eu")]),
        description: String::new(),
        secret_hash,
    }
}

pub struct Fixture {
    pub store: MemoryTokenStore,
    pub hasher: TokenHasher,
    pub state: ConfigState,
    /// The secret of [`CONFIDENTIAL`] (on both APIs).
    pub secret: String,
    /// The secret of [`PARTNER`].
    pub partner_secret: String,
}

impl Fixture {
    /// [`API_ID`] with `settings`; [`OTHER_API_ID`] allows every grant.
    pub fn new(settings: OAuthSettings) -> Self {
        static CHOSEN_HASH: OnceLock<SecretHash> = OnceLock::new();
        static PASSWORD_HASH: OnceLock<SecretHash> = OnceLock::new();
        let token_key = [42u8; 32];
        let mut state = ConfigState::new("test-store".into(), token_key);
        let secret = secret::generate();
        let partner_secret = secret::generate();
        for (api_id, settings) in [(API_ID, settings), (OTHER_API_ID, all_grants())] {
            let api = ApiBuilder::new(api_id).upstream("http://127.0.0.1:9").oauth(settings).build();
            state.apis.insert(api_id.into(), api);
            let mut clients = vec![client(api_id, CONFIDENTIAL, Some(secret::hash_generated(&secret)))];
            if api_id == API_ID {
                clients.push(client(api_id, PARTNER, Some(secret::hash_generated(&partner_secret))));
                clients.push(client(api_id, CHOSEN, Some(argon2(&CHOSEN_HASH, CHOSEN_SECRET))));
                clients.push(client(api_id, PUBLIC, None));
            }
            let by_id = clients.into_iter().map(|c| (c.client_id.clone(), c)).collect();
            state.clients.insert(api_id.into(), by_id);
        }
        let password_hash = phc(argon2(&PASSWORD_HASH, PASSWORD));
        for (username, policy_id, meta_data) in [
            (USERNAME, USER_POLICY, meta(&[("region", "us"), ("email", "alice@example.com")])),
            (PLAIN_USERNAME, "", BTreeMap::new()),
        ] {
            let user = ResourceOwner {
                username: username.into(),
                password_hash: password_hash.clone(),
                policy_id: policy_id.into(),
                meta_data,
            };
            state.users.insert(username.into(), user);
        }
        Self {
            store: MemoryTokenStore::new(),
            hasher: TokenHasher::new(&token_key),
            state,
            secret,
            partner_secret,
        }
    }

    pub fn api(&self) -> &Api {
        &self.state.apis[API_ID]
    }

    pub fn other_api(&self) -> &Api {
        &self.state.apis[OTHER_API_ID]
    }

    /// The secret a client authenticates with, `None` for public (or unknown) clients.
    pub fn secret_of(&self, client_id: &str) -> Option<&str> {
        match client_id {
            CONFIDENTIAL => Some(&self.secret),
            PARTNER => Some(&self.partner_secret),
            CHOSEN => Some(CHOSEN_SECRET),
            _ => None,
        }
    }

    /// A token request with a raw body and `Authorization` header.
    pub async fn token_raw(
        &self,
        api: &Api,
        body: &str,
        authorization: Option<&str>,
        now: u64,
    ) -> Result<Issued, OAuthError> {
        // Failure counting is off here (the fixture's requests would add up); the throttling
        // tests pass a guard of their own to `token_guarded`.
        let guard = Guard::with(FailurePolicy { limit: 0, ..DEFAULT_POLICY }, None, argon2_pool::global());
        self.token_guarded(api, body, authorization, now, &guard).await
    }

    /// [`Fixture::token_raw`] under `guard`.
    pub async fn token_guarded(
        &self,
        api: &Api,
        body: &str,
        authorization: Option<&str>,
        now: u64,
        guard: &Guard,
    ) -> Result<Issued, OAuthError> {
        let request = TokenRequest::parse(body.as_bytes(), authorization)?;
        TokenIssuer { store: &self.store, hasher: &self.hasher, state: &self.state, guard }
            .token(api, &request, now)
            .await
    }

    /// A token request to `api` at `now` in which `client_id` authenticates in the form body.
    pub async fn token_on(
        &self,
        api: &Api,
        client_id: &str,
        params: &[(&str, &str)],
        now: u64,
    ) -> Result<Issued, OAuthError> {
        let mut pairs = params.to_vec();
        pairs.push(("client_id", client_id));
        if let Some(secret) = self.secret_of(client_id) {
            pairs.push(("client_secret", secret));
        }
        self.token_raw(api, &form(&pairs), None, now).await
    }

    /// [`Fixture::token_on`] for [`API_ID`] at [`NOW`].
    pub async fn token_as(&self, client_id: &str, params: &[(&str, &str)]) -> Result<Issued, OAuthError> {
        self.token_on(self.api(), client_id, params, NOW).await
    }

    /// The session stored for an access token, if live.
    pub async fn session(&self, access_token: &str) -> Option<Session> {
        let key = self.hasher.key(kind::ACCESS_TOKEN, access_token);
        self.store.get_session(&key).await.expect("the memory store does not fail")
    }

    /// The grant stored for a live, unused refresh token.
    pub async fn refresh_grant(&self, refresh_token: &str) -> Option<RefreshGrant> {
        let key = self.hasher.key(kind::REFRESH_TOKEN, refresh_token);
        self.store.get_refresh(&key).await.expect("the memory store does not fail")
    }

    /// An authorization request for `client_id` with the registered redirect URI.
    pub fn params<'a>(&self, client_id: &'a str, challenge: Option<&'a str>) -> AuthorizationParams<'a> {
        AuthorizationParams {
            response_type: Some("code"),
            client_id: Some(client_id),
            redirect_uri: Some(REDIRECT_URI),
            state: Some("xyz"),
            scope: Some("read write"),
            code_challenge: challenge,
            code_challenge_method: challenge.map(|_| "S256"),
            client_secret: None,
        }
    }

    /// Validates `params` for [`API_ID`] and mints a code for them, as the identity server does.
    pub async fn issue_code_for(
        &self,
        params: AuthorizationParams<'_>,
        overrides: SessionOverride,
    ) -> Result<IssuedCode, OAuthError> {
        let api = self.api();
        let request = authorize::validate(api, params, |id| self.state.client(API_ID, id))?;
        authorize::issue_code(&self.store, &self.hasher, api, &request, overrides, NOW).await
    }

    /// A code for `client_id` (scope "read write", PKCE when `challenge` is given).
    pub async fn code(&self, client_id: &str, challenge: Option<&str>) -> String {
        self.issue_code_for(self.params(client_id, challenge), SessionOverride::default())
            .await
            .expect("authorization request is valid")
            .code
    }

    /// Redeems `code` as `client_id` with the registered redirect URI and `extra` parameters.
    pub async fn redeem(
        &self,
        client_id: &str,
        code: &str,
        extra: &[(&str, &str)],
    ) -> Result<Issued, OAuthError> {
        let mut params =
            vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT_URI)];
        params.extend_from_slice(extra);
        self.token_as(client_id, &params).await
    }

    /// Tokens from a complete code flow of [`CONFIDENTIAL`] (no PKCE).
    pub async fn code_tokens(&self) -> Issued {
        let code = self.code(CONFIDENTIAL, None).await;
        self.redeem(CONFIDENTIAL, &code, &[]).await.expect("code redemption succeeds")
    }

    /// Spends `refresh_token` as `client_id` with `extra` parameters.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
        extra: &[(&str, &str)],
    ) -> Result<Issued, OAuthError> {
        let mut params = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        params.extend_from_slice(extra);
        self.token_as(client_id, &params).await
    }
}

/// The error of a request that must fail, checked to be `expected`.
pub fn assert_error(result: Result<Issued, OAuthError>, expected: ErrorCode) -> OAuthError {
    match result {
        Ok(issued) => panic!("expected {expected:?}, got tokens for {}", issued.client_id),
        Err(e) => {
            assert_eq!(e.error, expected, "{e}");
            e
        }
    }
}

/// Parameters of a client_credentials request.
pub fn cc() -> [(&'static str, &'static str); 1] {
    [("grant_type", "client_credentials")]
}

/// Parameters of a password request.
pub fn password<'a>(username: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
    [("grant_type", "password"), ("username", username), ("password", password)]
}

/// The refresh token of a response that must carry one.
pub fn refresh_token_of(issued: &Issued) -> String {
    issued.response.refresh_token.clone().expect("a refresh token is issued")
}
