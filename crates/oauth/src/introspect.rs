//! Looking tokens up and revoking them: RFC 7662 introspection, RFC 7009 revocation. Used by
//! the gateway's client-authenticated endpoints and by the control plane's admin revoke.

use std::time::Duration;

use gatehouse_model::Api;
use gatehouse_model::Client;
use gatehouse_model::storage::{ClientRef, ClientTokenEntry, ClientTokenIndex, GrantStore, SessionStore};
use serde::Serialize;

use crate::error::store_unavailable;
use crate::token::kind;
use crate::{ErrorCode, OAuthError, TokenHasher};

/// RFC 7662 §2.2. Inactive tokens carry nothing but `active: false`.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// RFC 7662 §2.2 takes the RFC 6749 §7.1 access token type: `bearer` for access tokens.
    /// A refresh token has no such type, so it carries none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Which kinds to look for, the hinted one first (RFC 7009 §2.1: the hint is only a hint).
fn search_order(hint: Option<&str>) -> [&'static str; 2] {
    match hint {
        Some("refresh_token") => [kind::REFRESH_TOKEN, kind::ACCESS_TOKEN],
        _ => [kind::ACCESS_TOKEN, kind::REFRESH_TOKEN],
    }
}

/// Introspects `token` for `api`: live tokens of other APIs are reported inactive.
pub async fn introspect<S: SessionStore + GrantStore>(
    store: &S,
    hasher: &TokenHasher,
    api: &Api,
    token: &str,
    hint: Option<&str>,
    now: u64,
) -> Result<Introspection, OAuthError> {
    for kind in search_order(hint) {
        let key = hasher.key(kind, token);
        if kind == kind::ACCESS_TOKEN {
            if let Some(s) = store.get_session(&key).await.map_err(store_unavailable)?
                && s.api_id == api.api_id
                && !s.is_expired(now)
            {
                return Ok(Introspection {
                    active: true,
                    client_id: Some(s.client_id),
                    token_type: Some("bearer"),
                    scope: s.scope,
                    username: s.username,
                    exp: Some(s.expires_at),
                    iat: Some(s.issued_at),
                });
            }
        } else if let Some(g) = store.get_refresh(&key).await.map_err(store_unavailable)?
            && g.api_id == api.api_id
            && now < g.expires_at
        {
            return Ok(Introspection {
                active: true,
                client_id: Some(g.client_id),
                token_type: None,
                scope: g.scope,
                username: g.username,
                exp: Some(g.expires_at),
                iat: Some(g.issued_at),
            });
        }
    }
    Ok(Introspection::default())
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// An access token was deleted.
    AccessToken,
    /// A refresh token's whole family (its access token included) was revoked.
    RefreshFamily,
    /// No such live token: RFC 7009 §2.2 answers 200 all the same.
    Unknown,
    /// The token belongs to another client and was left alone.
    OtherClient,
}

/// Whose tokens a revocation may touch.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// Client ids are unique within an API only: a client endpoint passes its API.
    pub api_id: Option<&'a str>,
    pub client_id: &'a str,
}

/// Revokes `token` if it belongs to `owner` (RFC 7009 §2.1). `family_window` is how long a
/// revoked family is remembered. A revoked access token without a family leaves its client's
/// token index too, so token listings show live tokens only; a revoked family is dropped from
/// listings by its tombstone (see [`ClientTokenIndex::list_client_tokens`]).
pub async fn revoke<S: SessionStore + GrantStore + ClientTokenIndex>(
    store: &S,
    hasher: &TokenHasher,
    owner: Owner<'_>,
    token: &str,
    hint: Option<&str>,
    family_window: Duration,
) -> Result<Revocation, OAuthError> {
    let owned_by =
        |api: &str, client: &str| client == owner.client_id && owner.api_id.is_none_or(|a| a == api);
    for kind in search_order(hint) {
        let key = hasher.key(kind, token);
        if kind == kind::ACCESS_TOKEN {
            if let Some(session) = store.get_session(&key).await.map_err(store_unavailable)? {
                if !owned_by(&session.api_id, &session.client_id) {
                    return Ok(Revocation::OtherClient);
                }
                store.delete_session(&key).await.map_err(store_unavailable)?;
                // A family's access token is indexed by its family, which lives on while its
                // refresh token does.
                if session.family_id.is_none() {
                    let client = ClientRef { api_id: &session.api_id, client_id: &session.client_id };
                    store
                        .unindex_client_token(&client, &ClientTokenEntry::Access(key))
                        .await
                        .map_err(store_unavailable)?;
                }
                return Ok(Revocation::AccessToken);
            }
        } else if let Some(grant) = store.get_refresh(&key).await.map_err(store_unavailable)? {
            if !owned_by(&grant.api_id, &grant.client_id) {
                return Ok(Revocation::OtherClient);
            }
            // RFC 7009 §2.1: revoking a refresh token should also invalidate the access tokens
            // of the same grant.
            store.revoke_family(&grant.family_id, family_window).await.map_err(store_unavailable)?;
            return Ok(Revocation::RefreshFamily);
        }
    }
    Ok(Revocation::Unknown)
}

/// Tyk's API-scoped revoke-all: every token `client` holds on its API (access tokens, and
/// families with their refresh tokens, remembered for `family_window`); returns how many.
/// `client` must have authenticated with its secret: a public client proves nothing by naming
/// itself, so anyone could otherwise log its users out.
pub async fn revoke_all<S: ClientTokenIndex>(
    store: &S,
    client: &Client,
    family_window: Duration,
) -> Result<usize, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot revoke all its tokens",
        ));
    }
    let owner = ClientRef { api_id: &client.api_id, client_id: &client.client_id };
    store.revoke_client_tokens(&owner, family_window).await.map_err(store_unavailable)
}
