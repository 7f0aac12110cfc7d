//! The values behind every fixture: what each committed record must decode to.
//!
//! The fixtures were written by storing exactly these values through the store of the release
//! named by the fixture (see `write_fixtures`), so a reader that decodes a fixture to anything
//! else misreads that release's data. Every optional field is set somewhere, so a renamed or
//! re-typed field cannot hide behind a default.

use gatehouse_model::storage::TokenKey;
use gatehouse_model::{
    AccessDefinition, AccessSpec, Api, AuthorizationCode, Change, Client, ClientKey, ConfigState,
    CredentialLocation, FamilyMembers, GrantType, Notifications, OAuthSettings, Policy, RedirectUris,
    RefreshGrant, ResourceOwner, SecretHash, Session, VersionLocation, Versioning,
};

/// The storage keys the token records were written under.
pub const ACCESS: TokenKey = [0xa1; 32];
pub const REFRESH: TokenKey = [0xb2; 32];
pub const CODE: TokenKey = [0xc3; 32];
pub const FAMILY: &str = "fam-7Qx2";

fn meta(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn hex(key: &TokenKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// An authorization server with every OAuth setting, a custom credential location and an
/// https upstream with its own CA.
fn orders_api() -> Api {
    Api {
        api_id: "orders".into(),
        name: "Orders".into(),
        listen_path: "/orders/".into(),
        strip_listen_path: true,
        upstream: "https://orders.internal:8443/v1".parse().unwrap(),
        oauth: Some(OAuthSettings {
            allowed_grant_types: GrantType::ALL.to_vec(),
            allowed_authorize_types: vec!["code".into(), "token".into()],
            auth_login_redirect: "https://login.example/authorize".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 86_400,
            code_ttl_secs: 60,
            notifications: Some(Notifications {
                url: "https://hooks.example/tokens".into(),
                shared_secret: "s3cret".into(),
            }),
            error_status: Some(403),
        }),
        token_auth: false,
        credentials: CredentialLocation {
            header_name: "X-Api-Token".into(),
            query_param: "token".into(),
            cookie_name: "tok".into(),
            strip: true,
        },
        versioning: None,
        upstream_tls: Box::new(gatehouse_model::UpstreamTls {
            ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            client_cert_file: "/etc/gatehouse/orders.crt".into(),
            client_key_file: "/etc/gatehouse/orders.key".into(),
        }),
    }
}

/// A versioned API reached with tokens of other APIs' authorization servers.
fn billing_api() -> Api {
    Api {
        api_id: "billing".into(),
        name: "Billing".into(),
        listen_path: "/billing/".into(),
        strip_listen_path: false,
        upstream: "http://127.0.0.1:9100".parse().unwrap(),
        oauth: None,
        token_auth: true,
        credentials: CredentialLocation::default(),
        versioning: Some(Box::new(Versioning {
            location: VersionLocation::Header,
            key: "x-api-version".into(),
            default_version: "v1".into(),
            versions: vec!["v1".into(), "v2".into()],
            strip: true,
        })),
        upstream_tls: Box::default(),
    }
}

fn scratch_api() -> Api {
    Api {
        api_id: "scratch".into(),
        name: "Scratch".into(),
        listen_path: "/scratch/".into(),
        strip_listen_path: true,
        upstream: "http://127.0.0.1:9200".parse().unwrap(),
        oauth: None,
        token_auth: false,
        credentials: CredentialLocation::default(),
        versioning: None,
        upstream_tls: Box::default(),
    }
}

fn client(api_id: &str, client_id: &str, secret_hash: Option<SecretHash>) -> Client {
    Client {
        client_id: client_id.into(),
        api_id: api_id.into(),
        client_name: format!("{client_id} app"),
        redirect_uris: RedirectUris::one(format!("https://{client_id}.example/callback")),
        policy_id: "gold".into(),
        meta_data: meta(&[("tenant", "acme")]),
        description: format!("the {client_id} client"),
        secret_hash,
    }
}

fn policy(id: &str, rate: f64) -> Policy {
    Policy {
        id: id.into(),
        name: format!("Policy {id}"),
        access_rights: [(
            "orders".to_owned(),
            AccessDefinition {
                api_id: "orders".into(),
                api_name: "Orders".into(),
                versions: vec!["Default".into()],
                allowed_urls: vec![AccessSpec { url: "^/items".into(), methods: vec!["GET".into()] }],
            },
        )]
        .into(),
        rate,
        per: 60.0,
        quota_max: 10_000,
        quota_renewal_rate: 3600,
        key_expires_in: 0,
        tags: vec!["partner".into()],
        meta_data: meta(&[("plan", id)]),
        active: true,
    }
}

fn user(username: &str) -> ResourceOwner {
    ResourceOwner {
        username: username.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$hash-of-{username}"),
        policy_id: "gold".into(),
        meta_data: meta(&[("team", "ops")]),
    }
}

/// Every kind of change, in the order they were committed (revision 1 first): puts of each
/// kind, and deletes that leave a couple of each in the final state.
pub fn changes() -> Vec<Change> {
    vec![
        Change::ApiPut(orders_api()),
        Change::ApiPut(billing_api()),
        Change::ApiPut(scratch_api()),
        Change::ClientPut(client("orders", "web", Some(SecretHash::Sha256([0x5e; 32])))),
        Change::ClientPut(client("orders", "mobile", None)),
        Change::ClientPut(client("billing", "partner", Some(SecretHash::Argon2("$argon2id$v=19$x".into())))),
        Change::ClientPut(client("scratch", "tmp", None)),
        Change::PolicyPut(policy("gold", 100.0)),
        Change::PolicyPut(policy("silver", 10.5)),
        Change::PolicyPut(policy("tmp", 1.0)),
        Change::UserPut(user("alice")),
        Change::UserPut(user("carol")),
        Change::UserPut(user("bob")),
        Change::UserDeleted { username: "bob".into() },
        Change::PolicyDeleted { id: "tmp".into() },
        Change::ClientDeleted(ClientKey { api_id: "scratch".into(), client_id: "tmp".into() }),
        Change::ApiDeleted { api_id: "scratch".into() },
    ]
}

/// The state after [`changes`], in a store with this id and token key.
pub fn state(store_id: &str, token_key: [u8; 32]) -> ConfigState {
    let mut state = ConfigState::new(store_id.to_owned(), token_key);
    for (revision, change) in (1..).zip(changes()) {
        state.apply(revision, &change);
    }
    state
}

pub fn session() -> Session {
    Session {
        api_id: "orders".into(),
        client_id: "web".into(),
        policy_id: "gold".into(),
        grant: GrantType::Password,
        meta_data: meta(&[("tenant", "acme")]),
        issued_at: 1_700_000_000,
        expires_at: 1_700_000_900,
        family_id: Some(FAMILY.into()),
        scope: Some("read write".into()),
        username: Some("alice".into()),
    }
}

pub fn code() -> AuthorizationCode {
    AuthorizationCode {
        api_id: "orders".into(),
        client_id: "web".into(),
        redirect_uri: "https://web.example/callback".into(),
        redirect_uri_in_request: true,
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        scope: Some("read".into()),
        policy_id: "gold".into(),
        meta_data: meta(&[("tenant", "acme")]),
        issued_at: 1_700_000_000,
    }
}

pub fn refresh_grant() -> RefreshGrant {
    RefreshGrant {
        api_id: "orders".into(),
        client_id: "web".into(),
        family_id: FAMILY.into(),
        origin: GrantType::AuthorizationCode,
        policy_id: "gold".into(),
        meta_data: meta(&[("tenant", "acme")]),
        scope: Some("read write".into()),
        username: Some("alice".into()),
        access_key: hex(&ACCESS),
        issued_at: 1_700_000_000,
        expires_at: 1_700_086_400,
    }
}

pub fn family() -> FamilyMembers {
    FamilyMembers { access_key: hex(&ACCESS), refresh_key: Some(hex(&REFRESH)) }
}
