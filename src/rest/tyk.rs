//! The Tyk Gateway API's conventions, for its paths (`/tyk/...`, and an API's
//! `<listen-path>/tyk/oauth/authorize-client`).
//!
//! Those routes are `additional_bindings` of the same RPCs the Dashboard-style paths reach, so
//! the annotations stay the one source of truth for what each path does. What differs is only
//! the envelope, the same for every route of each API, so it is written here once rather than
//! as a second set of messages: errors are Tyk's `{"status":"error","message":…}` where the
//! Dashboard's are `{"Status":"Error","Message":…,"Meta":null}`; an admin secret that is wrong
//! or missing is Tyk's 403 (the Dashboard's paths answer 401); and an `AdminStatus` answer
//! becomes Tyk's `ApiStatusMessage` (`{"status":"ok","message":…}`), or for a DELETE its
//! `ApiModifyKeySuccess` (`{"key":…,"status":"ok","action":"deleted"}`).

use http::StatusCode;
use serde_json::{Value, json};

use super::{RestError, RouteSpec};

/// What the Tyk Gateway answers a wrong or missing `x-tyk-authorization`, word for word
/// (scripts match on it).
pub const TYK_ADMIN_REFUSAL: &str = "Attempted administrative access with invalid or missing key!";

/// Whose conventions a request path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The Tyk Dashboard API's (`/api/...`), and every path that is not the Gateway API's.
    Dashboard,
    /// The Tyk Gateway API's.
    TykGateway,
}

impl Dialect {
    /// Decided from the path alone, so that a caller refused before routing already gets the
    /// right envelope.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/tyk/") || path.contains("/tyk/oauth/") {
            Dialect::TykGateway
        } else {
            Dialect::Dashboard
        }
    }

    /// The admin-secret check's refusal: Tyk answers 403 with its fixed message. A throttled
    /// caller keeps its 429 and Retry-After: "slow down" must stay distinguishable.
    pub fn refused(self, error: RestError) -> RestError {
        match self {
            Dialect::TykGateway if error.status == StatusCode::UNAUTHORIZED => {
                RestError::new(StatusCode::FORBIDDEN, TYK_ADMIN_REFUSAL)
            }
            _ => error,
        }
    }

    pub fn error_body(self, message: &str) -> Value {
        match self {
            Dialect::Dashboard => json!({ "Status": "Error", "Message": message, "Meta": null }),
            Dialect::TykGateway => json!({ "status": "error", "message": message }),
        }
    }

    /// The `key` of Tyk's `ApiModifyKeySuccess`: for a DELETE, the path's last variable (the
    /// client id, the refresh token), taken from the request before it is consumed.
    pub fn deleted_key(self, route: &RouteSpec, input: &Value) -> Option<String> {
        if self != Dialect::TykGateway || route.verb != "DELETE" {
            return None;
        }
        let last = route.template.rsplit('/').find_map(|s| s.strip_prefix('{')?.strip_suffix('}'))?;
        input.get(last)?.as_str().map(str::to_owned)
    }

    /// The answer in this dialect's envelope; `deleted_key` from [`Dialect::deleted_key`].
    pub fn answer(self, route: &RouteSpec, deleted_key: Option<String>, output: Value) -> Value {
        if self != Dialect::TykGateway || route.output_type != "AdminStatus" || route.response_body.is_some()
        {
            return output;
        }
        match deleted_key {
            Some(key) => json!({ "key": key, "status": "ok", "action": "deleted" }),
            None => {
                json!({ "status": "ok", "message": output.get("Message").cloned().unwrap_or(Value::Null) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::ROUTES;

    fn route(verb: &str, template: &str) -> &'static RouteSpec {
        ROUTES.iter().find(|r| r.verb == verb && r.template == template).unwrap()
    }

    #[test]
    fn the_path_decides_the_dialect() {
        assert_eq!(Dialect::of("/tyk/oauth/clients/create"), Dialect::TykGateway);
        assert_eq!(Dialect::of("/my-api/tyk/oauth/authorize-client/"), Dialect::TykGateway);
        assert_eq!(Dialect::of("/api/apis/oauth/a"), Dialect::Dashboard);
        assert_eq!(Dialect::of("/tyk"), Dialect::Dashboard);
    }

    #[test]
    fn admin_refusals_become_tyk_403s_but_lockouts_stay_429() {
        let refused =
            Dialect::TykGateway.refused(RestError::new(StatusCode::UNAUTHORIZED, "wrong admin secret"));
        assert_eq!((refused.status, refused.message.as_str()), (StatusCode::FORBIDDEN, TYK_ADMIN_REFUSAL));
        let throttled = Dialect::TykGateway.refused(RestError::new(StatusCode::TOO_MANY_REQUESTS, "wait"));
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
        let dashboard = Dialect::Dashboard.refused(RestError::new(StatusCode::UNAUTHORIZED, "x"));
        assert_eq!(dashboard.status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn admin_status_answers_take_tyk_shapes() {
        let status = json!({"Status": "OK", "Message": "tokens revoked successfully", "Meta": null});
        let revoke_all = route("POST", "/tyk/oauth/revoke_all");
        assert_eq!(
            Dialect::TykGateway.answer(revoke_all, None, status.clone()),
            json!({"status": "ok", "message": "tokens revoked successfully"})
        );
        assert_eq!(Dialect::Dashboard.answer(revoke_all, None, status.clone()), status);
        let delete = route("DELETE", "/tyk/oauth/clients/{api_id}/{client_id}");
        let key = Dialect::TykGateway.deleted_key(delete, &json!({"api_id": "a", "client_id": "c"}));
        assert_eq!(key.as_deref(), Some("c"));
        assert_eq!(
            Dialect::TykGateway.answer(delete, key, status),
            json!({"key": "c", "status": "ok", "action": "deleted"})
        );
        let client = json!({"client_id": "c"});
        let get = route("GET", "/tyk/oauth/clients/{api_id}/{client_id}");
        assert_eq!(Dialect::TykGateway.answer(get, None, client.clone()), client);
    }
}
