//! Policies at request time (Tyk's `apply_policies`): a token's policy is read from the live
//! config on every request, so editing a policy changes live tokens at once.
//!
//! Access rules: a policy with access rights grants exactly the APIs it lists (and, per API,
//! the allowed URL patterns and methods); a token without such a policy is good on the API that
//! issued it only. Limits count against the token's family (one user's authorization, across
//! refreshes) or, for client_credentials tokens, against the client itself, so minting more
//! tokens never buys more requests.

use std::collections::HashMap;

use gatehouse_model::storage::{Limits, Quota, RateLimit};
use gatehouse_model::{Api, ConfigState, Policy, Session};
use regex::Regex;

use crate::refusal::Refusal;

/// The allowed-URL rules of every (policy, API) pair, compiled once per config version.
#[derive(Default)]
pub struct CompiledRules {
    /// By policy id, then API id: looked up with borrowed ids, no allocation per request.
    rules: HashMap<String, HashMap<String, Vec<UrlRule>>>,
}

struct UrlRule {
    pattern: Regex,
    /// Empty: any method.
    methods: Vec<String>,
}

impl CompiledRules {
    pub fn compile(state: &ConfigState) -> Self {
        let mut rules = HashMap::new();
        for policy in state.policies.values() {
            for (api_id, access) in &policy.access_rights {
                let compiled: Vec<UrlRule> = access
                    .allowed_urls
                    .iter()
                    .filter_map(|spec| match Regex::new(&spec.url) {
                        Ok(pattern) => Some(UrlRule { pattern, methods: spec.methods.clone() }),
                        Err(e) => {
                            // The control plane validates patterns; a bad one here means a peer
                            // sent something it should not have. Fail closed: no rule matches.
                            tracing::error!(policy_id = %policy.id, error = %e, "invalid allowed_urls pattern");
                            None
                        }
                    })
                    .collect();
                if !access.allowed_urls.is_empty() {
                    rules
                        .entry(policy.id.clone())
                        .or_insert_with(HashMap::new)
                        .insert(api_id.clone(), compiled);
                }
            }
        }
        Self { rules }
    }

    /// Whether `policy` lets `method` reach `path` (the path under the listen path) of `api`.
    /// Patterns match anywhere in the path, as Tyk's do.
    fn allows(&self, policy_id: &str, api_id: &str, method: &str, path: &str) -> bool {
        match self.rules.get(policy_id).and_then(|by_api| by_api.get(api_id)) {
            None => true,
            Some(rules) => rules.iter().any(|rule| {
                rule.pattern.is_match(path)
                    && (rule.methods.is_empty() || rule.methods.iter().any(|m| m == method))
            }),
        }
    }
}

/// What a request may do, once its session is known.
pub struct Grant {
    /// Who the limits count against.
    pub subject: String,
    pub limits: Limits,
}

/// What a policy decides on: the request as routed.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path under the listen path.
    pub path: &'a str,
    /// The API version, when the API is versioned.
    pub version: Option<&'a str>,
}

/// Applies the session's policy to a request for `api`. A policy granting `api` with a
/// non-empty `versions` list grants those versions only.
pub fn authorize(
    state: &ConfigState,
    rules: &CompiledRules,
    api: &Api,
    session: &Session,
    request: Request<'_>,
) -> Result<Grant, Refusal> {
    let Request { method, path, version } = request;
    let policy: Option<&Policy> = if session.policy_id.is_empty() {
        None
    } else {
        // A deleted policy takes its tokens' rights with it.
        Some(state.policies.get(&session.policy_id).ok_or(Refusal::OtherApi)?)
    };
    if policy.is_some_and(|p| !p.active) {
        return Err(Refusal::Inactive);
    }
    let granted = match policy {
        Some(p) if !p.access_rights.is_empty() => p.access_rights.contains_key(&api.api_id),
        _ => session.api_id == api.api_id,
    };
    if !granted {
        return Err(Refusal::OtherApi);
    }
    if let (Some(p), Some(version)) = (policy, version)
        && let Some(access) = p.access_rights.get(&api.api_id)
        && !access.versions.is_empty()
        && !access.versions.iter().any(|v| v == version)
    {
        return Err(Refusal::VersionDisallowed);
    }
    if let Some(p) = policy
        && !rules.allows(&p.id, &api.api_id, method, path)
    {
        return Err(Refusal::PathDisallowed);
    }
    let subject = match &session.family_id {
        Some(family) => format!("fam:{family}"),
        None => format!("client:{}:{}", session.api_id, session.client_id),
    };
    Ok(Grant { subject, limits: policy.map(limits_of).unwrap_or(Limits { rate: None, quota: None }) })
}

fn limits_of(policy: &Policy) -> Limits {
    let rate = (policy.rate > 0.0 && policy.per > 0.0)
        .then_some(RateLimit { rate: policy.rate, per_secs: policy.per });
    let quota = u64::try_from(policy.quota_max)
        .ok()
        .filter(|max| *max > 0)
        .zip(u64::try_from(policy.quota_renewal_rate).ok().filter(|p| *p > 0))
        .map(|(max, period_secs)| Quota { max, period_secs });
    Limits { rate, quota }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use gatehouse_model::test_util::{ApiBuilder, SessionBuilder};
    use gatehouse_model::{AccessDefinition, AccessSpec, Change};

    use super::*;

    fn api(id: &str) -> Api {
        ApiBuilder::new(id).token_auth(true).build()
    }

    fn req<'a>(method: &'a str, path: &'a str) -> Request<'a> {
        Request { method, path, version: None }
    }

    #[test]
    fn a_versions_list_grants_those_versions_only() {
        let mut p = policy(&[("a", vec![]), ("b", vec![])]);
        p.access_rights.get_mut("a").unwrap().versions = vec!["v1".into()];
        let state = state_with(p);
        let rules = CompiledRules::compile(&state);
        let s = session("a", "p", None);
        let at = |api_id, version| {
            authorize(&state, &rules, &api(api_id), &s, Request { method: "GET", path: "/", version }).err()
        };
        assert_eq!(at("a", Some("v1")), None);
        assert_eq!(at("a", Some("v2")), Some(Refusal::VersionDisallowed));
        // An unversioned API, or an empty list, grants every version.
        assert_eq!(at("a", None), None);
        assert_eq!(at("b", Some("v2")), None);
    }

    fn session(api: &str, policy: &str, family: Option<&str>) -> Session {
        let session =
            SessionBuilder::new().api(api).client("c").policy(policy).issued_at(0).expires_at(u64::MAX);
        match family {
            Some(family) => session.family(family).build(),
            None => session.build(),
        }
    }

    fn state_with(policy: Policy) -> ConfigState {
        let mut state = ConfigState::new("s".into(), [0; 32]);
        state.apply(1, &Change::PolicyPut(policy));
        state
    }

    fn policy(rights: &[(&str, Vec<AccessSpec>)]) -> Policy {
        Policy {
            id: "p".into(),
            name: "p".into(),
            access_rights: rights
                .iter()
                .map(|(api, urls)| {
                    let access = AccessDefinition {
                        api_id: (*api).into(),
                        api_name: String::new(),
                        versions: vec![],
                        allowed_urls: urls.clone(),
                    };
                    ((*api).to_owned(), access)
                })
                .collect(),
            rate: 10.0,
            per: 60.0,
            quota_max: -1,
            quota_renewal_rate: 0,
            key_expires_in: 0,
            tags: vec![],
            meta_data: BTreeMap::new(),
            active: true,
        }
    }

    #[test]
    fn a_shared_policy_grants_other_apis_and_only_those() {
        let state = state_with(policy(&[("a", vec![]), ("b", vec![])]));
        let rules = CompiledRules::compile(&state);
        let s = session("a", "p", None);
        assert!(authorize(&state, &rules, &api("b"), &s, req("GET", "/")).is_ok());
        assert_eq!(authorize(&state, &rules, &api("c"), &s, req("GET", "/")).err(), Some(Refusal::OtherApi));
        let grant = authorize(&state, &rules, &api("a"), &s, req("GET", "/")).unwrap();
        assert_eq!(grant.subject, "client:a:c");
        assert_eq!(grant.limits.rate, Some(RateLimit { rate: 10.0, per_secs: 60.0 }));
        assert_eq!(grant.limits.quota, None);
    }

    #[test]
    fn without_access_rights_only_the_issuing_api() {
        let state = ConfigState::new("s".into(), [0; 32]);
        let rules = CompiledRules::compile(&state);
        let s = session("a", "", Some("f1"));
        let grant = authorize(&state, &rules, &api("a"), &s, req("GET", "/")).unwrap();
        assert_eq!(grant.subject, "fam:f1");
        assert!(authorize(&state, &rules, &api("b"), &s, req("GET", "/")).is_err());
        assert!(authorize(&state, &rules, &api("a"), &session("a", "gone", None), req("GET", "/")).is_err());
    }

    #[test]
    fn allowed_urls_and_methods_are_enforced() {
        let spec = AccessSpec { url: "^/orders(/|$)".into(), methods: vec!["GET".into()] };
        let state = state_with(policy(&[("a", vec![spec])]));
        let rules = CompiledRules::compile(&state);
        let s = session("a", "p", None);
        assert!(authorize(&state, &rules, &api("a"), &s, req("GET", "/orders/1")).is_ok());
        let refused = |m, p| authorize(&state, &rules, &api("a"), &s, req(m, p)).err();
        assert_eq!(refused("POST", "/orders/1"), Some(Refusal::PathDisallowed));
        assert_eq!(refused("GET", "/users"), Some(Refusal::PathDisallowed));
    }

    #[test]
    fn inactive_policies_refuse() {
        let mut p = policy(&[]);
        p.active = false;
        let state = state_with(p);
        let rules = CompiledRules::compile(&state);
        let refused = authorize(&state, &rules, &api("a"), &session("a", "p", None), req("GET", "/")).err();
        assert_eq!(refused, Some(Refusal::Inactive));
    }
}
