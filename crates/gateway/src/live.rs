//! The configuration a gateway serves.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use gatehouse_model::{Api, Change, ConfigState};
use gatehouse_oauth::TokenHasher;
use gatehouse_telemetry::metrics::gateway::ApiMetrics;

use crate::policy::CompiledRules;

/// One immutable version of the configuration, with what requests derive from it.
pub struct RuntimeConfig {
    pub state: ConfigState,
    pub hasher: TokenHasher,
    /// Policies' allowed-URL patterns, compiled once per version rather than per request.
    pub rules: CompiledRules,
    /// `(listen path, api id)`, longest listen path first, so the first prefix match is the
    /// most specific one.
    routes: Vec<(String, String)>,
    /// Each API's metric handles, shared with earlier versions.
    metrics: HashMap<String, Arc<ApiMetrics>>,
}

impl RuntimeConfig {
    fn new(state: ConfigState) -> Self {
        let mut routes: Vec<(String, String)> =
            state.apis.values().map(|api| (api.listen_path.clone(), api.api_id.clone())).collect();
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let hasher = TokenHasher::new(&state.token_key);
        let rules = CompiledRules::compile(&state);
        let metrics = state.apis.keys().map(|id| (id.clone(), ApiMetrics::for_api(id))).collect();
        gatehouse_telemetry::metrics::gateway::config_revision(state.revision);
        Self { state, hasher, rules, routes, metrics }
    }

    /// The metric handles of an API of this version.
    pub fn api_metrics(&self, api_id: &str) -> Option<&Arc<ApiMetrics>> {
        self.metrics.get(api_id)
    }

    /// The API whose listen path prefixes `path`, and the rest of the path (starting with `/`).
    /// `/my-api` matches the listen path `/my-api/` too.
    pub fn route<'a>(&self, path: &'a str) -> Option<(&Api, &'a str)> {
        self.routes.iter().find_map(|(listen_path, api_id)| {
            let rest = if let Some(rest) = path.strip_prefix(listen_path.as_str()) {
                // Keep the slash that ended the listen path.
                &path[path.len() - rest.len() - 1..]
            } else if path.len() + 1 == listen_path.len() && listen_path.starts_with(path) {
                "/"
            } else {
                return None;
            };
            self.state.apis.get(api_id).map(|api| (api, rest))
        })
    }
}

/// The configuration currently served, replaced whole on every change: requests see either the
/// old or the new version, never a mix, and never wait for a lock.
#[derive(Default)]
pub struct LiveConfig {
    current: ArcSwapOption<RuntimeConfig>,
}

/// A delta that does not follow the revision held: the stream skipped something.
#[derive(Debug, thiserror::Error)]
#[error("delta for revision {got} does not follow revision {held}")]
pub struct RevisionGap {
    pub held: u64,
    pub got: u64,
}

impl LiveConfig {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn load(&self) -> Option<Arc<RuntimeConfig>> {
        self.current.load_full()
    }

    /// Store id and revision held, for resuming the config stream.
    pub fn position(&self) -> Option<(String, u64)> {
        self.current.load().as_ref().map(|c| (c.state.store_id.clone(), c.state.revision))
    }

    pub fn apply_snapshot(&self, state: ConfigState) {
        self.current.store(Some(Arc::new(RuntimeConfig::new(state))));
    }

    /// Applies one change. Only the config-stream task writes, so read-modify-store needs no
    /// compare-and-swap.
    pub fn apply_delta(&self, revision: u64, change: &Change) -> Result<(), RevisionGap> {
        let held = self.current.load_full();
        let Some(held) = held else {
            return Err(RevisionGap { held: 0, got: revision });
        };
        if revision != held.state.revision + 1 {
            return Err(RevisionGap { held: held.state.revision, got: revision });
        }
        let mut state = held.state.clone();
        state.apply(revision, change);
        self.current.store(Some(Arc::new(RuntimeConfig::new(state))));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_model::test_util::ApiBuilder;

    use super::*;

    fn api(id: &str, listen_path: &str) -> Api {
        ApiBuilder::new(id).listen_path(listen_path).build()
    }

    fn live_with(apis: &[Api]) -> LiveConfig {
        let mut state = ConfigState::new("s".into(), [0; 32]);
        for (i, a) in apis.iter().enumerate() {
            state.apply(i as u64 + 1, &Change::ApiPut(a.clone()));
        }
        let live = LiveConfig::new();
        live.apply_snapshot(state);
        live
    }

    #[test]
    fn longest_listen_path_wins() {
        let live = live_with(&[api("root", "/"), api("a", "/a/"), api("ab", "/a/b/")]);
        let cfg = live.load().unwrap();
        let hit = |p: &str| cfg.route(p).map(|(api, rest)| (api.api_id.clone(), rest.to_owned()));
        assert_eq!(hit("/a/b/c?x"), Some(("ab".into(), "/c?x".into())));
        assert_eq!(hit("/a/x"), Some(("a".into(), "/x".into())));
        assert_eq!(hit("/a"), Some(("a".into(), "/".into())));
        assert_eq!(hit("/ab"), Some(("root".into(), "/ab".into())));
    }

    #[test]
    fn no_match_without_root_api() {
        let live = live_with(&[api("a", "/a/")]);
        assert!(live.load().unwrap().route("/b/x").is_none());
        assert!(live.load().unwrap().route("/ab").is_none());
    }

    #[test]
    fn deltas_must_follow_the_held_revision() {
        let live = live_with(&[api("a", "/a/")]);
        assert!(live.apply_delta(3, &Change::ApiPut(api("b", "/b/"))).is_err());
        live.apply_delta(2, &Change::ApiPut(api("b", "/b/"))).unwrap();
        assert_eq!(live.position(), Some(("s".into(), 2)));
        assert!(live.load().unwrap().route("/b/").is_some());
    }
}
