//! The admin operations over APIs and clients.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use gatehouse_model::storage::{StateStore, StoreError};
use gatehouse_model::{
    Api, Change, Client, ClientKey, ConfigState, RedirectUris, ValidationError, id::check_id,
};
use gatehouse_oauth::secret;
use gatehouse_oauth::token::random_id;
use gatehouse_store::{AnyStateStore, AnyTokenStore};
use tokio::sync::{Mutex, RwLock, broadcast};

use crate::ControlError;
use crate::keyless::{KeylessIntent, check_not_made_keyless};
use crate::references::{check_oauth_api, check_policy_exists};
use crate::watch::{LOG_CAPACITY, Published};

/// The control plane's state: the durable store, an in-memory copy of its state, the tail of
/// the revision log, and the channel that tells watchers about new revisions.
pub struct ControlPlane {
    pub(crate) store: AnyStateStore,
    /// Token state shared with the gateways, for authorization codes and revocation; `None`
    /// when the control plane runs without Redis.
    pub(crate) tokens: Option<AnyTokenStore>,
    /// Serialises this process's mutations: validation reads the state it is about to change,
    /// so two writers must not interleave between check and commit. (Replicas are kept apart
    /// by the store's compare-and-set instead; see `commit.rs`.)
    pub(crate) write: Mutex<()>,
    pub(crate) current: RwLock<Current>,
    pub(crate) events: broadcast::Sender<Published>,
    pub(crate) settings: Settings,
    /// Gateways connected to this process.
    pub fleet: crate::fleet::Fleet,
}

pub(crate) struct Current {
    pub(crate) state: ConfigState,
    /// The last [`LOG_CAPACITY`] changes, oldest first.
    pub(crate) log: VecDeque<Published>,
}

/// How the control plane reads what admins send, beyond the state itself.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Splits Tyk's single `redirect_uri` into several (Tyk's `oauth_redirect_uri_separator`);
    /// empty: no splitting.
    pub redirect_uri_separator: String,
}

/// The fields of a client app an admin sets, at creation and (all replaced) on update.
#[derive(Debug, Default)]
pub struct ClientFields {
    pub api_id: String,
    pub client_id: String,
    pub client_name: String,
    /// Tyk's single redirect URI, or several joined by [`Settings::redirect_uri_separator`].
    pub redirect_uri: String,
    /// Gatehouse's list of redirect URIs (see [`crate::redirect_uris::registered`]).
    pub redirect_uris: Vec<String>,
    pub policy_id: String,
    pub meta_data: BTreeMap<String, String>,
    pub description: String,
}

/// A client app to register; an empty `client_id` has one generated.
#[derive(Debug, Default)]
pub struct NewClient {
    pub fields: ClientFields,
    /// A secret the admin chose; `None` to have one generated.
    pub secret: Option<String>,
    /// A public client: no secret at all, PKCE required.
    pub public: bool,
}

impl ControlPlane {
    pub async fn open(
        store: AnyStateStore,
        tokens: Option<AnyTokenStore>,
    ) -> Result<Arc<Self>, ControlError> {
        Self::open_with(store, tokens, Settings::default()).await
    }

    pub async fn open_with(
        store: AnyStateStore,
        tokens: Option<AnyTokenStore>,
        settings: Settings,
    ) -> Result<Arc<Self>, ControlError> {
        let state = store.load().await?;
        tracing::info!(store_id = %state.store_id, revision = state.revision, "control-plane state loaded");
        gatehouse_telemetry::metrics::control::config_revision(state.revision);
        let (events, _) = broadcast::channel(LOG_CAPACITY);
        let control = Arc::new(Self {
            store,
            tokens,
            write: Mutex::new(()),
            current: RwLock::new(Current { state, log: VecDeque::with_capacity(LOG_CAPACITY) }),
            events,
            settings,
            fleet: Default::default(),
        });
        control.follow_store();
        Ok(control)
    }

    /// The separator of several redirect URIs in Tyk's single `redirect_uri` (empty: none).
    pub fn redirect_uri_separator(&self) -> &str {
        &self.settings.redirect_uri_separator
    }

    /// Whether the state store answers (a PING when it is Redis): the control plane's
    /// readiness, since no admin write can commit without it.
    pub async fn ping_store(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    pub async fn revision(&self) -> u64 {
        self.current.read().await.state.revision
    }

    pub async fn list_apis(&self) -> Vec<Api> {
        self.current.read().await.state.apis.values().cloned().collect()
    }

    pub async fn get_api(&self, api_id: &str) -> Result<Api, ControlError> {
        self.current.read().await.state.apis.get(api_id).cloned().ok_or_else(|| api_not_found(api_id))
    }

    /// The id of the API listening on `listen_path` (its slashes optional), as the Tyk Gateway
    /// API's paths under a listen path name their API.
    pub async fn api_id_by_listen_path(&self, listen_path: &str) -> Result<String, ControlError> {
        let wanted = listen_path.trim_matches('/');
        let current = self.current.read().await;
        current
            .state
            .apis
            .values()
            .find(|api| api.listen_path.trim_matches('/') == wanted)
            .map(|api| api.api_id.clone())
            .ok_or_else(|| ControlError::NotFound(format!("no API listens on {listen_path:?}")))
    }

    /// Registers a new API. Its id is generated when empty.
    pub async fn create_api(&self, mut api: Api) -> Result<Api, ControlError> {
        if api.api_id.is_empty() {
            api.api_id = random_id();
        }
        let api = api.validate()?;
        self.mutate(|state| {
            if state.apis.contains_key(&api.api_id) {
                return Err(ControlError::Conflict(format!(
                    "an API with id {:?} already exists",
                    api.api_id
                )));
            }
            check_listen_path_free(state, &api)?;
            Ok((Change::ApiPut(api.clone()), ()))
        })
        .await?;
        Ok(api)
    }

    /// Replaces an API. `keyless`: whether the caller asked for a keyless API, without which a
    /// protected API is not replaced by a keyless one (see [`crate::keyless`]).
    pub async fn update_api(
        &self,
        api_id: &str,
        mut api: Api,
        keyless: KeylessIntent,
    ) -> Result<Api, ControlError> {
        if !api.api_id.is_empty() && api.api_id != api_id {
            return Err(ValidationError::new(
                "api.api_id",
                format!("{:?} differs from the id in the path {api_id:?}", api.api_id),
            )
            .into());
        }
        api.api_id = api_id.to_owned();
        let api = api.validate()?;
        self.mutate(|state| {
            let old = state.apis.get(api_id).ok_or_else(|| api_not_found(api_id))?;
            check_not_made_keyless(old, &api, keyless)?;
            check_listen_path_free(state, &api)?;
            Ok((Change::ApiPut(api.clone()), ()))
        })
        .await?;
        Ok(api)
    }

    /// Deletes an API and, with it, its client apps.
    pub async fn delete_api(&self, api_id: &str) -> Result<(), ControlError> {
        self.mutate(|state| {
            if !state.apis.contains_key(api_id) {
                return Err(api_not_found(api_id));
            }
            Ok((Change::ApiDeleted { api_id: api_id.to_owned() }, ()))
        })
        .await
    }

    pub async fn list_clients(&self, api_id: &str) -> Result<Vec<Client>, ControlError> {
        let current = self.current.read().await;
        if !current.state.apis.contains_key(api_id) {
            return Err(api_not_found(api_id));
        }
        Ok(current.state.clients.get(api_id).map(|m| m.values().cloned().collect()).unwrap_or_default())
    }

    pub async fn get_client(&self, api_id: &str, client_id: &str) -> Result<Client, ControlError> {
        let current = self.current.read().await;
        if !current.state.apis.contains_key(api_id) {
            return Err(api_not_found(api_id));
        }
        current.state.client(api_id, client_id).cloned().ok_or_else(|| client_not_found(api_id, client_id))
    }

    /// Registers a client app. Returns it with the secret in clear, which is never available
    /// again: only its hash is stored. Public clients have none.
    pub async fn create_client(&self, new: NewClient) -> Result<(Client, Option<String>), ControlError> {
        let NewClient { fields: new, secret: chosen_secret, public } = new;
        let redirect_uris = self.redirect_uris(&new)?;
        let client_id = if new.client_id.is_empty() { random_id() } else { new.client_id };
        check_id("client_id", &client_id)?;
        let (secret, secret_hash) = match (public, chosen_secret) {
            (true, Some(_)) => {
                return Err(ValidationError::new("secret", "a public client has no secret").into());
            }
            (true, None) => (None, None),
            (false, Some(chosen)) => {
                let hash = hash_chosen_secret(chosen.clone(), "secret").await?;
                (Some(chosen), Some(hash))
            }
            (false, None) => {
                let generated = secret::generate();
                let hash = secret::hash_generated(&generated);
                (Some(generated), Some(hash))
            }
        };
        let client = Client {
            client_id,
            api_id: new.api_id,
            client_name: new.client_name,
            redirect_uris,
            policy_id: new.policy_id,
            meta_data: new.meta_data,
            description: new.description,
            secret_hash,
        };
        self.mutate(|state| {
            check_oauth_api(state, &client.api_id)?;
            if state.client(&client.api_id, &client.client_id).is_some() {
                return Err(ControlError::Conflict(format!(
                    "client {:?} already exists for API {:?}",
                    client.client_id, client.api_id
                )));
            }
            check_policy_exists(state, &client.policy_id)?;
            Ok((Change::ClientPut(client.clone()), ()))
        })
        .await?;
        Ok((client, secret))
    }

    /// Changes a client's redirect URI, policy, metadata, description or name. Returns the
    /// client and whether its policy changed (then its tokens must be revoked, as Tyk does).
    pub async fn update_client(&self, update: ClientFields) -> Result<(Client, bool), ControlError> {
        let redirect_uris = self.redirect_uris(&update)?;
        self.mutate(|state| {
            let old = state
                .client(&update.api_id, &update.client_id)
                .ok_or_else(|| client_not_found(&update.api_id, &update.client_id))?;
            check_policy_exists(state, &update.policy_id)?;
            let client = Client {
                redirect_uris: redirect_uris.clone(),
                policy_id: update.policy_id.clone(),
                meta_data: update.meta_data.clone(),
                description: update.description.clone(),
                client_name: update.client_name.clone(),
                ..old.clone()
            };
            let policy_changed = client.policy_id != old.policy_id;
            Ok((Change::ClientPut(client.clone()), (client, policy_changed)))
        })
        .await
    }

    fn redirect_uris(&self, fields: &ClientFields) -> Result<RedirectUris, ValidationError> {
        crate::redirect_uris::registered(
            &fields.redirect_uri,
            &fields.redirect_uris,
            &self.settings.redirect_uri_separator,
        )
    }

    /// Replaces a confidential client's secret with a new generated one, returned once.
    pub async fn rotate_client_secret(
        &self,
        api_id: &str,
        client_id: &str,
    ) -> Result<(Client, String), ControlError> {
        let secret = secret::generate();
        let hash = secret::hash_generated(&secret);
        let client = self
            .mutate(|state| {
                let old =
                    state.client(api_id, client_id).ok_or_else(|| client_not_found(api_id, client_id))?;
                if old.is_public() {
                    return Err(
                        ValidationError::new("client_id", "a public client has no secret to rotate").into()
                    );
                }
                let client = Client { secret_hash: Some(hash.clone()), ..old.clone() };
                Ok((Change::ClientPut(client.clone()), client))
            })
            .await?;
        Ok((client, secret))
    }

    pub async fn delete_client(&self, api_id: &str, client_id: &str) -> Result<(), ControlError> {
        self.mutate(|state| {
            if state.client(api_id, client_id).is_none() {
                return Err(client_not_found(api_id, client_id));
            }
            let key = ClientKey { api_id: api_id.to_owned(), client_id: client_id.to_owned() };
            Ok((Change::ClientDeleted(key), ()))
        })
        .await
    }
}

/// Hashes a secret or password an admin chose with Argon2id, off the async workers (it is
/// deliberately slow).
pub(crate) async fn hash_chosen_secret(
    chosen: String,
    field: &str,
) -> Result<gatehouse_model::SecretHash, ControlError> {
    if chosen.len() < 8 {
        return Err(ValidationError::new(field, "must be at least 8 characters").into());
    }
    tokio::task::spawn_blocking(move || secret::hash_chosen(&chosen))
        .await
        .map_err(|e| ControlError::Store(StoreError::Unavailable(e.to_string())))?
        .map_err(|e| ValidationError::new(field, e).into())
}

fn check_listen_path_free(state: &ConfigState, api: &Api) -> Result<(), ControlError> {
    match state.apis.values().find(|other| other.api_id != api.api_id && other.listen_path == api.listen_path)
    {
        Some(other) => Err(ControlError::Conflict(format!(
            "listen_path {:?} is already used by API {:?}",
            api.listen_path, other.api_id
        ))),
        None => Ok(()),
    }
}

pub(crate) fn api_not_found(api_id: &str) -> ControlError {
    ControlError::NotFound(format!("API {api_id:?} not found"))
}

fn client_not_found(api_id: &str, client_id: &str) -> ControlError {
    ControlError::NotFound(format!("client {client_id:?} not found for API {api_id:?}"))
}
