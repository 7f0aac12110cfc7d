//! Conversions between wire types ([`crate::pb`]) and domain types ([`gatehouse_model`]).
//! Validation that needs no state happens here, so errors name the wire field.

use gatehouse_control::{ClientFields, NewClient, NewUser, redirect_uris};
use gatehouse_model::{
    AccessDefinition, AccessSpec, Api, Change, Client, ClientKey, ConfigState, CredentialLocation, GrantType,
    Notifications, OAuthSettings, Policy, RedirectUris, ResourceOwner, SecretHash, UpstreamTls,
    ValidationError, Versioning,
};

use gatehouse_tyk::Imported;

use crate::pb;

/// Why a config-stream message (snapshot or delta) cannot be applied by a gateway.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A message without a part the protocol requires, e.g. a delta without its change.
    #[error("{0}")]
    Missing(&'static str),
    #[error("token key is not 32 bytes")]
    TokenKeyLength,
    #[error("sha256 secret hash is not 32 bytes")]
    SecretHashLength,
    #[error("confidential client {0:?} has no secret hash")]
    NoSecretHash(String),
    #[error("client {0:?} has an empty secret hash")]
    EmptySecretHash(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// An API from the wire, with the warnings of a Tyk Classic import (`api_definition`).
pub fn api_from_wire_with_warnings(api: Option<pb::Api>) -> Result<(Api, Vec<String>), ValidationError> {
    let mut api = api.ok_or_else(|| ValidationError::new("api", "is required"))?;
    match api.api_definition.take() {
        Some(definition) => {
            let imported = classic_from_wire(&definition)?;
            Ok((imported.api, imported.warnings))
        }
        None => Ok((api_from_wire(Some(api))?, Vec::new())),
    }
}

/// A Tyk Classic definition (bare, not the Dashboard's wrapper) from the wire.
pub fn classic_from_wire(definition: &pbjson_types::Struct) -> Result<Imported, ValidationError> {
    let imported = gatehouse_tyk::import_classic(&struct_to_json(definition)).map_err(import_error)?;
    check_ca_pem(&imported.api.upstream_tls.ca_pem, "gatehouse.upstream_tls.ca_pem")?;
    Ok(imported)
}

/// A Tyk OAS document from the wire.
pub fn oas_from_wire(document: Option<pbjson_types::Struct>) -> Result<Imported, ValidationError> {
    let document = document.ok_or_else(|| ValidationError::new("document", "is required"))?;
    let imported = gatehouse_tyk::import_oas(&struct_to_json(&document)).map_err(import_error)?;
    check_ca_pem(&imported.api.upstream_tls.ca_pem, "x-gatehouse.upstreamTls.caPem")?;
    Ok(imported)
}

/// Parsed here, at the edge, so a broken bundle is a 400 naming the field rather than a 502 on
/// every gateway.
fn check_ca_pem(pem: &str, field: &str) -> Result<(), ValidationError> {
    if pem.is_empty() {
        return Ok(());
    }
    gatehouse_tls::pem::roots_from_pem(pem.as_bytes(), field)
        .map(drop)
        .map_err(|e| ValidationError::new(field, e.to_string()))
}

/// The Tyk OAS export of `api`; failing only on a bug (an export that is not a JSON object).
pub fn oas_to_wire(api: &Api) -> Result<pbjson_types::Struct, tonic::Status> {
    serde_json::from_value(gatehouse_tyk::export_oas(api)).map_err(|e| tonic::Status::internal(e.to_string()))
}

/// The Tyk Classic export of `api`; failing only on a bug, as [`oas_to_wire`].
pub fn classic_to_wire(api: &Api) -> Result<pbjson_types::Struct, tonic::Status> {
    serde_json::from_value(gatehouse_tyk::export_classic(api))
        .map_err(|e| tonic::Status::internal(e.to_string()))
}

fn struct_to_json(s: &pbjson_types::Struct) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
}

fn import_error(e: gatehouse_tyk::ImportError) -> ValidationError {
    ValidationError::new(e.path, e.message)
}

pub fn api_from_wire(api: Option<pb::Api>) -> Result<Api, ValidationError> {
    let api = api.ok_or_else(|| ValidationError::new("api", "is required"))?;
    if api.api_definition.is_some() {
        return Err(ValidationError::new("api_definition", "is only accepted when creating an API"));
    }
    let upstream = api.upstream_url.parse()?;
    check_ca_pem(&api.upstream_ca_pem, "upstream_ca_pem")?;
    let oauth = api.oauth.map(oauth_from_wire).transpose()?;
    Ok(Api {
        api_id: api.api_id,
        name: api.name,
        listen_path: api.listen_path,
        strip_listen_path: api.strip_listen_path,
        upstream,
        oauth,
        token_auth: api.token_auth,
        credentials: CredentialLocation {
            header_name: api.auth_header_name,
            query_param: api.auth_query_param,
            cookie_name: api.auth_cookie_name,
            strip: api.strip_auth_data,
        },
        upstream_tls: Box::new(UpstreamTls {
            ca_pem: api.upstream_ca_pem,
            client_cert_file: api.upstream_client_cert_file,
            client_key_file: api.upstream_client_key_file,
        }),
        versioning: api.versioning.map(versioning_from_wire).transpose()?.map(Box::new),
    })
}

fn versioning_from_wire(v: pb::ApiVersioning) -> Result<Versioning, ValidationError> {
    let location = v.location.parse().map_err(|()| {
        ValidationError::new(
            "versioning.location",
            format!("{:?} is not a location (header, query_param, url_segment)", v.location),
        )
    })?;
    Ok(Versioning {
        location,
        key: v.key,
        default_version: v.default_version,
        versions: v.versions,
        strip: v.strip_versioning_data,
    })
}

fn oauth_from_wire(o: pb::OAuthSettings) -> Result<OAuthSettings, ValidationError> {
    let mut grants = Vec::new();
    for (i, name) in o.allowed_grant_types.iter().enumerate() {
        let grant: GrantType = name.parse().map_err(|()| {
            ValidationError::new(
                format!("oauth.allowed_grant_types[{i}]"),
                format!("{name:?} is not a grant type (authorization_code, client_credentials, password, refresh_token)"),
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(OAuthSettings {
        allowed_grant_types: grants,
        allowed_authorize_types: o.allowed_authorize_types,
        auth_login_redirect: o.auth_login_redirect,
        access_token_ttl_secs: o.access_token_ttl_seconds.into(),
        refresh_token_ttl_secs: o.refresh_token_ttl_seconds.into(),
        code_ttl_secs: o.code_ttl_seconds.into(),
        notifications: o
            .notifications
            .filter(|n| !n.url.is_empty())
            .map(|n| Notifications { url: n.url, shared_secret: n.shared_secret }),
        error_status: match o.error_status_code {
            0 => None,
            code => Some(
                u16::try_from(code)
                    .map_err(|_| ValidationError::new("oauth.error_status_code", "must be a 4xx status"))?,
            ),
        },
    })
}

pub fn api_to_wire(api: &Api) -> pb::Api {
    pb::Api {
        warnings: Vec::new(),
        api_definition: None,
        api_id: api.api_id.clone(),
        name: api.name.clone(),
        listen_path: api.listen_path.clone(),
        strip_listen_path: api.strip_listen_path,
        upstream_url: api.upstream.to_string(),
        token_auth: api.token_auth,
        auth_header_name: api.credentials.header_name.clone(),
        auth_query_param: api.credentials.query_param.clone(),
        auth_cookie_name: api.credentials.cookie_name.clone(),
        strip_auth_data: api.credentials.strip,
        versioning: api.versioning.as_ref().map(|v| pb::ApiVersioning {
            location: v.location.as_str().to_owned(),
            key: v.key.clone(),
            default_version: v.default_version.clone(),
            versions: v.versions.clone(),
            strip_versioning_data: v.strip,
        }),
        upstream_ca_pem: api.upstream_tls.ca_pem.clone(),
        upstream_client_cert_file: api.upstream_tls.client_cert_file.clone(),
        upstream_client_key_file: api.upstream_tls.client_key_file.clone(),
        oauth: api.oauth.as_ref().map(|o| pb::OAuthSettings {
            allowed_grant_types: o.allowed_grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            allowed_authorize_types: o.allowed_authorize_types.clone(),
            auth_login_redirect: o.auth_login_redirect.clone(),
            access_token_ttl_seconds: saturating_u32(o.access_token_ttl_secs),
            refresh_token_ttl_seconds: saturating_u32(o.refresh_token_ttl_secs),
            code_ttl_seconds: saturating_u32(o.code_ttl_secs),
            notifications: o
                .notifications
                .as_ref()
                .map(|n| pb::Notifications { url: n.url.clone(), shared_secret: n.shared_secret.clone() }),
            error_status_code: o.error_status.map(u32::from).unwrap_or(0),
        }),
    }
}

fn saturating_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The admin-set fields of a client, from either request that carries them (the same names
/// in both messages).
macro_rules! client_fields_from_wire {
    ($r:ident) => {
        ClientFields {
            api_id: $r.api_id,
            client_id: $r.client_id,
            client_name: $r.client_name,
            redirect_uri: $r.redirect_uri,
            redirect_uris: $r.redirect_uris,
            policy_id: $r.policy_id,
            meta_data: $r.meta_data.into_iter().collect(),
            description: $r.description,
        }
    };
}

pub fn new_client_from_wire(r: pb::CreateClientRequest) -> NewClient {
    let secret = (!r.secret.is_empty()).then_some(r.secret);
    let public = r.public_client;
    NewClient { fields: client_fields_from_wire!(r), secret, public }
}

pub fn client_update_from_wire(r: pb::UpdateClientRequest) -> ClientFields {
    client_fields_from_wire!(r)
}

pub fn policy_from_wire(p: Option<pb::Policy>) -> Result<Policy, ValidationError> {
    let p = p.ok_or_else(|| ValidationError::new("policy", "is required"))?;
    Ok(Policy {
        id: p.id,
        name: p.name,
        access_rights: p
            .access_rights
            .into_iter()
            .map(|(api_id, a)| {
                let access = AccessDefinition {
                    api_id: if a.api_id.is_empty() { api_id.clone() } else { a.api_id },
                    api_name: a.api_name,
                    versions: a.versions,
                    allowed_urls: a
                        .allowed_urls
                        .into_iter()
                        .map(|u| AccessSpec { url: u.url, methods: u.methods })
                        .collect(),
                };
                (api_id, access)
            })
            .collect(),
        rate: p.rate,
        per: p.per,
        quota_max: p.quota_max.into(),
        quota_renewal_rate: p.quota_renewal_rate.into(),
        key_expires_in: p.key_expires_in.into(),
        tags: p.tags,
        meta_data: p.meta_data.into_iter().collect(),
        active: p.active.unwrap_or(true),
    })
}

pub fn policy_to_wire(p: &Policy) -> pb::Policy {
    let clamp = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
    pb::Policy {
        id: p.id.clone(),
        name: p.name.clone(),
        access_rights: p
            .access_rights
            .iter()
            .map(|(api_id, a)| {
                let access = pb::AccessDefinition {
                    api_id: a.api_id.clone(),
                    api_name: a.api_name.clone(),
                    versions: a.versions.clone(),
                    allowed_urls: a
                        .allowed_urls
                        .iter()
                        .map(|u| pb::AccessSpec { url: u.url.clone(), methods: u.methods.clone() })
                        .collect(),
                };
                (api_id.clone(), access)
            })
            .collect(),
        rate: p.rate,
        per: p.per,
        quota_max: clamp(p.quota_max),
        quota_renewal_rate: clamp(p.quota_renewal_rate),
        key_expires_in: clamp(p.key_expires_in),
        tags: p.tags.clone(),
        meta_data: p.meta_data.clone().into_iter().collect(),
        active: Some(p.active),
    }
}

pub fn new_user_from_wire(r: pb::CreateUserRequest) -> NewUser {
    NewUser {
        username: r.username,
        password: r.password,
        policy_id: r.policy_id,
        meta_data: r.meta_data.into_iter().collect(),
    }
}

pub fn user_to_wire(u: &ResourceOwner) -> pb::ResourceOwner {
    pb::ResourceOwner {
        username: u.username.clone(),
        policy_id: u.policy_id.clone(),
        meta_data: u.meta_data.clone().into_iter().collect(),
    }
}

fn user_record(u: &ResourceOwner) -> pb::UserRecord {
    pb::UserRecord { user: Some(user_to_wire(u)), password_hash: u.password_hash.clone() }
}

fn user_from_record(r: pb::UserRecord) -> Result<ResourceOwner, StreamError> {
    let u = r.user.ok_or(StreamError::Missing("user record without user"))?;
    Ok(ResourceOwner {
        username: u.username,
        password_hash: r.password_hash,
        policy_id: u.policy_id,
        meta_data: u.meta_data.into_iter().collect(),
    })
}

/// The public view of a client; `secret` only in the response that created it. `separator`
/// joins several redirect URIs into Tyk's single `redirect_uri` (empty: the first alone).
pub fn client_to_wire(c: &Client, secret: Option<String>, separator: &str) -> pb::OAuthClient {
    pb::OAuthClient {
        client_id: c.client_id.clone(),
        api_id: c.api_id.clone(),
        client_name: c.client_name.clone(),
        redirect_uri: redirect_uris::shown(&c.redirect_uris, separator),
        redirect_uris: c.redirect_uris.as_slice().to_vec(),
        policy_id: c.policy_id.clone(),
        meta_data: c.meta_data.clone().into_iter().collect(),
        description: c.description.clone(),
        secret,
        public_client: c.is_public(),
    }
}

fn client_record(c: &Client) -> pb::ClientRecord {
    let secret_hash = c.secret_hash.as_ref().map(|hash| {
        let kind = match hash {
            SecretHash::Sha256(digest) => pb::secret_hash::Kind::Sha256(digest.to_vec()),
            SecretHash::Argon2(phc) => pb::secret_hash::Kind::Argon2Phc(phc.clone()),
        };
        pb::SecretHash { kind: Some(kind) }
    });
    // On the config stream `redirect_uri` is the first URI: what a gateway that predates the
    // list reads (it then refuses the others rather than accepting a joined string).
    pb::ClientRecord { client: Some(client_to_wire(c, None, "")), secret_hash }
}

fn client_from_record(r: pb::ClientRecord) -> Result<Client, StreamError> {
    let c = r.client.ok_or(StreamError::Missing("client record without client"))?;
    let secret_hash = match r.secret_hash.map(|h| h.kind) {
        None if c.public_client => None,
        None => return Err(StreamError::NoSecretHash(c.client_id)),
        Some(Some(pb::secret_hash::Kind::Sha256(d))) => {
            Some(SecretHash::Sha256(d.as_slice().try_into().map_err(|_| StreamError::SecretHashLength)?))
        }
        Some(Some(pb::secret_hash::Kind::Argon2Phc(phc))) => Some(SecretHash::Argon2(phc)),
        Some(None) => return Err(StreamError::EmptySecretHash(c.client_id)),
    };
    Ok(Client {
        client_id: c.client_id,
        api_id: c.api_id,
        client_name: c.client_name,
        redirect_uris: match (c.redirect_uris.is_empty(), c.redirect_uri.is_empty()) {
            (false, _) => RedirectUris(c.redirect_uris),
            (true, false) => RedirectUris::one(c.redirect_uri),
            (true, true) => RedirectUris::default(),
        },
        policy_id: c.policy_id,
        meta_data: c.meta_data.into_iter().collect(),
        description: c.description,
        secret_hash,
    })
}

pub fn snapshot_to_wire(state: &ConfigState) -> pb::ConfigSnapshot {
    pb::ConfigSnapshot {
        store_id: state.store_id.clone(),
        revision: state.revision,
        token_key: state.token_key.to_vec(),
        apis: state.apis.values().map(api_to_wire).collect(),
        clients: state.all_clients().map(client_record).collect(),
        users: state.users.values().map(user_record).collect(),
        policies: state.policies.values().map(policy_to_wire).collect(),
    }
}

/// A snapshot from the control plane. The control plane validated everything before it
/// committed it, but a gateway re-checks rather than trust a peer's bytes.
pub fn snapshot_from_wire(s: pb::ConfigSnapshot) -> Result<ConfigState, StreamError> {
    let token_key: [u8; 32] = s.token_key.as_slice().try_into().map_err(|_| StreamError::TokenKeyLength)?;
    let mut state = ConfigState::new(s.store_id, token_key);
    for api in s.apis {
        let api = api_from_wire(Some(api))?;
        state.apis.insert(api.api_id.clone(), api);
    }
    for record in s.clients {
        let client = client_from_record(record)?;
        state.clients.entry(client.api_id.clone()).or_default().insert(client.client_id.clone(), client);
    }
    for record in s.users {
        let user = user_from_record(record)?;
        state.users.insert(user.username.clone(), user);
    }
    for policy in s.policies {
        let policy = policy_from_wire(Some(policy))?;
        state.policies.insert(policy.id.clone(), policy);
    }
    state.revision = s.revision;
    Ok(state)
}

pub fn change_to_wire(revision: u64, change: &Change) -> pb::ConfigDelta {
    use pb::config_delta::Change as W;
    let change = match change {
        Change::ApiPut(api) => W::ApiPut(api_to_wire(api)),
        Change::ApiDeleted { api_id } => W::ApiDeleted(api_id.clone()),
        Change::ClientPut(client) => W::ClientPut(client_record(client)),
        Change::ClientDeleted(key) => {
            W::ClientDeleted(pb::ClientKey { api_id: key.api_id.clone(), client_id: key.client_id.clone() })
        }
        Change::UserPut(user) => W::UserPut(user_record(user)),
        Change::UserDeleted { username } => W::UserDeleted(username.clone()),
        Change::PolicyPut(policy) => W::PolicyPut(policy_to_wire(policy)),
        Change::PolicyDeleted { id } => W::PolicyDeleted(id.clone()),
    };
    pb::ConfigDelta { revision, change: Some(change) }
}

pub fn change_from_wire(d: pb::ConfigDelta) -> Result<(u64, Change), StreamError> {
    use pb::config_delta::Change as W;
    let change = match d.change.ok_or(StreamError::Missing("delta without change"))? {
        W::ApiPut(api) => Change::ApiPut(api_from_wire(Some(api))?),
        W::ApiDeleted(api_id) => Change::ApiDeleted { api_id },
        W::ClientPut(record) => Change::ClientPut(client_from_record(record)?),
        W::ClientDeleted(k) => Change::ClientDeleted(ClientKey { api_id: k.api_id, client_id: k.client_id }),
        W::UserPut(record) => Change::UserPut(user_from_record(record)?),
        W::UserDeleted(username) => Change::UserDeleted { username },
        W::PolicyPut(policy) => Change::PolicyPut(policy_from_wire(Some(policy))?),
        W::PolicyDeleted(id) => Change::PolicyDeleted { id },
    };
    Ok((d.revision, change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_ca_bundles_are_parsed_at_the_edge() {
        let doc = serde_json::json!({
            "x-tyk-api-gateway": {
                "info": { "name": "n" },
                "server": { "listenPath": { "value": "/n/" }, "authentication": { "enabled": false } },
                "upstream": { "url": "https://h:8443" }
            },
            "x-gatehouse": { "upstreamTls": { "caPem": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n" } }
        });
        let e = oas_from_wire(Some(serde_json::from_value(doc).unwrap())).unwrap_err();
        assert_eq!(e.field, "x-gatehouse.upstreamTls.caPem", "{e}");
    }

    #[test]
    fn grant_type_errors_name_the_index() {
        let api = pb::Api {
            upstream_url: "http://127.0.0.1:1".into(),
            oauth: Some(pb::OAuthSettings {
                allowed_grant_types: vec!["client_credentials".into(), "implicit".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = api_from_wire(Some(api)).unwrap_err();
        assert_eq!(err.field, "oauth.allowed_grant_types[1]");
    }

    #[test]
    fn snapshot_round_trips() {
        let mut state = ConfigState::new("s".into(), [4; 32]);
        let api = api_from_wire(Some(pb::Api {
            api_id: "a".into(),
            listen_path: "/a/".into(),
            upstream_url: "http://127.0.0.1:1/base".into(),
            versioning: Some(pb::ApiVersioning {
                location: "url".into(),
                default_version: "v1".into(),
                versions: vec!["v1".into(), "v2".into()],
                strip_versioning_data: true,
                ..Default::default()
            }),
            oauth: Some(pb::OAuthSettings {
                allowed_grant_types: vec!["client_credentials".into()],
                ..Default::default()
            }),
            ..Default::default()
        }))
        .unwrap();
        state.apply(1, &Change::ApiPut(api));
        let client = Client {
            client_id: "c".into(),
            api_id: "a".into(),
            client_name: String::new(),
            // Several: the config stream carries the list, not only Tyk's single value.
            redirect_uris: RedirectUris(vec!["https://x/cb".into(), "myapp://cb".into()]),
            policy_id: String::new(),
            meta_data: [("k".to_owned(), "v".to_owned())].into(),
            description: "d".into(),
            secret_hash: Some(SecretHash::Sha256([8; 32])),
        };
        state.apply(2, &Change::ClientPut(client));
        assert_eq!(snapshot_from_wire(snapshot_to_wire(&state)).unwrap(), state);
    }
}
