//! `gatehouse.v1.TokenService`: authorization codes for identity servers, admin revocation.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_control::ControlPlane;
use gatehouse_oauth::authorize::{AuthorizationParams, SessionOverride};
use gatehouse_oauth::introspect::Revocation;
use serde::Deserialize;
use tonic::{Request, Response, Status};

use super::{ok_status, required, status_from};
use crate::pb;

#[derive(Clone)]
pub struct TokenServiceImpl {
    pub control: Arc<ControlPlane>,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// The part of Tyk's `key_rules` session object Gatehouse honours. Anything else is refused
/// rather than silently ignored: an identity server relying on it must know.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRules {
    #[serde(default)]
    policy_id: Option<String>,
    #[serde(default)]
    apply_policies: Vec<String>,
    #[serde(default)]
    meta_data: BTreeMap<String, String>,
}

fn parse_key_rules(raw: &str) -> Result<SessionOverride, Status> {
    if raw.is_empty() {
        return Ok(SessionOverride::default());
    }
    let rules: KeyRules = serde_json::from_str(raw).map_err(|e| {
        Status::invalid_argument(format!(
            "key_rules: {e} (Gatehouse takes policy_id, apply_policies and meta_data)"
        ))
    })?;
    if rules.apply_policies.len() > 1 {
        return Err(Status::invalid_argument("key_rules.apply_policies: at most one policy is supported"));
    }
    Ok(SessionOverride {
        policy_id: rules.policy_id.or_else(|| rules.apply_policies.into_iter().next()),
        meta_data: rules.meta_data,
    })
}

#[tonic::async_trait]
impl pb::token_service_server::TokenService for TokenServiceImpl {
    async fn authorize_client(
        &self,
        request: Request<pb::AuthorizeClientRequest>,
    ) -> Result<Response<pb::AuthorizeClientResponse>, Status> {
        let r = request.into_inner();
        let api_id = match (r.api_id.as_str(), r.listen_path.as_str()) {
            ("", "") => return Err(Status::invalid_argument("api_id: is required")),
            ("", listen_path) => {
                self.control.api_id_by_listen_path(listen_path).await.map_err(status_from)?
            }
            (api_id, _) => api_id.to_owned(),
        };
        required("client_id", &r.client_id)?;
        let overrides = parse_key_rules(&r.key_rules)?;
        let params = AuthorizationParams {
            response_type: non_empty(&r.response_type),
            client_id: non_empty(&r.client_id),
            redirect_uri: non_empty(&r.redirect_uri),
            state: non_empty(&r.state),
            scope: non_empty(&r.scope),
            code_challenge: non_empty(&r.code_challenge),
            code_challenge_method: non_empty(&r.code_challenge_method),
            // An identity server authorizes with the admin secret, never a client secret.
            client_secret: None,
        };
        let issued = self.control.authorize_client(&api_id, params, overrides).await.map_err(status_from)?;
        Ok(Response::new(pb::AuthorizeClientResponse { code: issued.code, redirect_to: issued.redirect_to }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        let client_id = required("client_id", &r.client_id)?;
        let token = required("token", &r.token)?;
        let hint = match r.token_type_hint.as_str() {
            "" => None,
            h @ ("access_token" | "refresh_token") => Some(h),
            other => {
                return Err(Status::invalid_argument(format!(
                    "token_type_hint: {other:?} is neither access_token nor refresh_token"
                )));
            }
        };
        let outcome = self.control.revoke_token(client_id, token, hint).await.map_err(status_from)?;
        let message = match outcome {
            Revocation::AccessToken => "access token revoked",
            Revocation::RefreshFamily => "refresh token and the tokens issued with it revoked",
            // RFC 7009 §2.2: an unknown token is not an error.
            Revocation::Unknown => "no such live token",
            Revocation::OtherClient => {
                return Err(Status::permission_denied("the token belongs to another client"));
            }
        };
        tracing::info!(%client_id, ?outcome, "token revoked by admin");
        Ok(Response::new(ok_status(message)))
    }

    async fn list_client_tokens(
        &self,
        request: Request<pb::ListClientTokensRequest>,
    ) -> Result<Response<pb::ListClientTokensResponse>, Status> {
        let r = request.into_inner();
        let page = match r.page {
            // The Tyk Gateway API's `?page=`: 0 or less is the first page, as in Tyk.
            Some(page) => usize::try_from(page).unwrap_or(1).max(1),
            // The Dashboard's `?p=`: 0 or less (no `?p=`) is every live token, as Tyk answers.
            None => usize::try_from(r.p).unwrap_or(0),
        };
        let (tokens, pages) = self
            .control
            .list_client_tokens(required("api_id", &r.api_id)?, required("client_id", &r.client_id)?, page)
            .await
            .map_err(status_from)?;
        let tokens: Vec<pb::ClientToken> = tokens
            .into_iter()
            .map(|(code, expires)| pb::ClientToken {
                code,
                expires: u32::try_from(expires).unwrap_or(u32::MAX),
            })
            .collect();
        let pages = i32::try_from(pages).unwrap_or(i32::MAX);
        let tyk_gateway = tyk_token_listing(&tokens, r.page.map(|_| (page, pages)))?;
        Ok(Response::new(pb::ListClientTokensResponse { tokens, pages, tyk_gateway: Some(tyk_gateway) }))
    }

    async fn invalidate_refresh_token(
        &self,
        request: Request<pb::InvalidateRefreshTokenRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        let api_id = required("api_id", &r.api_id)?;
        let outcome = self
            .control
            .invalidate_refresh_token(api_id, required("refresh_token", &r.refresh_token)?)
            .await
            .map_err(status_from)?;
        tracing::info!(%api_id, ?outcome, "refresh token invalidated by admin");
        Ok(Response::new(ok_status(match outcome {
            Revocation::Unknown => "no such live refresh token",
            _ => "refresh token and the tokens issued with it revoked",
        })))
    }

    async fn revoke_all_tokens(
        &self,
        request: Request<pb::RevokeAllTokensRequest>,
    ) -> Result<Response<pb::AdminStatus>, Status> {
        let r = request.into_inner();
        let client_id = required("client_id", &r.client_id)?;
        // Tyk requires the client's secret; the admin secret (or a dashboard session) already
        // authorizes the call, so Gatehouse also takes it without one.
        let secret = (!r.client_secret.is_empty()).then_some(r.client_secret.as_str());
        let count = self.control.revoke_all_tokens(client_id, secret).await.map_err(status_from)?;
        tracing::info!(%client_id, count, "all tokens of a client revoked by admin");
        Ok(Response::new(ok_status("tokens revoked successfully")))
    }
}

/// The Tyk Gateway API's answer for a page of tokens: the bare array, or, when the caller named
/// a page (`paged`: that page and the page count), `{"Pagination": …, "Tokens": …}`.
fn tyk_token_listing(
    tokens: &[pb::ClientToken],
    paged: Option<(usize, i32)>,
) -> Result<pbjson_types::Value, Status> {
    let json = match paged {
        None => serde_json::to_value(tokens),
        Some((page, pages)) => serde_json::to_value(pb::TykTokenPage {
            pagination: Some(pb::TykPagination {
                page_num: i32::try_from(page).unwrap_or(i32::MAX),
                page_size: i32::try_from(gatehouse_control::tokens::TOKEN_PAGE_SIZE).unwrap_or(i32::MAX),
                page_total: pages,
            }),
            tokens: tokens.to_vec(),
        }),
    };
    json.and_then(serde_json::from_value)
        .map_err(|e| Status::internal(format!("cannot encode the token listing: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules_take_policy_and_metadata_and_refuse_the_rest() {
        let o = parse_key_rules(r#"{"apply_policies":["p1"],"meta_data":{"k":"v"}}"#).unwrap();
        assert_eq!(o.policy_id.as_deref(), Some("p1"));
        assert_eq!(o.meta_data.get("k").map(String::as_str), Some("v"));
        let e = parse_key_rules(r#"{"rate": 10}"#).unwrap_err();
        assert!(e.message().contains("unknown field `rate`"), "{}", e.message());
        assert!(parse_key_rules("{").is_err());
    }

    #[test]
    fn tyk_token_listing_is_a_bare_array_unless_a_page_is_named() {
        let tokens = vec![pb::ClientToken { code: "at:ab".into(), expires: 7 }];
        // As the REST layer writes a Value (proto3 JSON has only doubles there).
        let json = |v: pbjson_types::Value| {
            let mut json = serde_json::to_value(v).unwrap();
            crate::rest::whole_numbers_as_integers(&mut json);
            json
        };
        assert_eq!(
            json(tyk_token_listing(&tokens, None).unwrap()),
            serde_json::json!([{"code": "at:ab", "expires": 7}])
        );
        assert_eq!(
            json(tyk_token_listing(&tokens, Some((2, 3))).unwrap()),
            serde_json::json!({
                "Pagination": {"page_num": 2, "page_size": 100, "page_total": 3},
                "Tokens": [{"code": "at:ab", "expires": 7}],
            })
        );
    }
}
