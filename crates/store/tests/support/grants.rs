//! Fixtures shared by the grant tests (`grant_contract.rs`, `grant_redis.rs`).

use std::time::Duration;

use gatehouse_model::storage::{TokenKey, TokenStore};
use gatehouse_model::test_util::SessionBuilder;
use gatehouse_model::{AuthorizationCode, FamilyMembers, GrantType, RefreshGrant, Session};
use gatehouse_store::RedisTokenStore;

use super::RedisServer;

pub const LONG_TTL: Duration = Duration::from_secs(600);
pub const WINDOW: Duration = Duration::from_millis(300);
/// Comfortably past `WINDOW` (and the short TTLs below), so expiry is certain.
pub const PAST_WINDOW: Duration = Duration::from_millis(500);
pub const RACERS: usize = 20;

pub fn key(n: u8) -> TokenKey {
    let mut k = [0u8; 32];
    k[0] = 0xc0;
    k[31] = n;
    k
}

pub fn hex(k: &TokenKey) -> String {
    hex::encode(k)
}

pub fn code(client_id: &str) -> AuthorizationCode {
    AuthorizationCode {
        api_id: "orders".into(),
        client_id: client_id.into(),
        redirect_uri: "https://app.example/callback".into(),
        redirect_uri_in_request: true,
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        scope: Some("read write".into()),
        policy_id: "gold".into(),
        meta_data: [("tenant".to_owned(), "acme".to_owned())].into(),
        issued_at: 1_700_000_000,
    }
}

pub fn grant(family_id: &str, access: &TokenKey) -> RefreshGrant {
    RefreshGrant {
        api_id: "orders".into(),
        client_id: "c1".into(),
        family_id: family_id.into(),
        origin: GrantType::Password,
        policy_id: "gold".into(),
        meta_data: [("tenant".to_owned(), "acme".to_owned())].into(),
        scope: Some("read".into()),
        username: Some("alice".into()),
        access_key: hex(access),
        issued_at: 1_700_000_000,
        expires_at: 1_700_086_400,
    }
}

pub fn session(family_id: &str) -> Session {
    SessionBuilder::new()
        .client("c1")
        .grant(GrantType::Password)
        .family(family_id)
        .scope("read")
        .username("alice")
        .build()
}

pub fn members(access: &TokenKey, refresh: Option<&TokenKey>) -> FamilyMembers {
    FamilyMembers { access_key: hex(access), refresh_key: refresh.map(hex) }
}

/// Stores an access token and a refresh token for `family_id` and records them as its members.
pub async fn live_pair(s: &impl TokenStore, family_id: &str, access: &TokenKey, refresh: &TokenKey) {
    s.put_session(access, &session(family_id), LONG_TTL).await.unwrap();
    s.put_refresh(refresh, &grant(family_id, access), LONG_TTL).await.unwrap();
    s.set_family(family_id, &members(access, Some(refresh)), LONG_TTL).await.unwrap();
}

pub async fn redis_fixture() -> (RedisTokenStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisTokenStore::connect(&server.url()).await.expect("connect to test redis");
    (store, server)
}
