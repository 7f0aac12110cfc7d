//! `gatehouse-tyk`: importing API definitions written for Tyk into Gatehouse's domain types
//! ([`gatehouse_model`]), and exporting Gatehouse's as Tyk OAS and Classic.
//!
//! # Layout
//! - `imported.rs`: what an import gives back, [`Imported`] or [`ImportError`]; [`parse_json`].
//! - `path.rs`: walking JSON objects with their paths, typed reads, the "unmapped field" warnings.
//! - `validate.rs`: the domain validation of an imported API, its errors at the source's paths.
//! - `oauth.rs`: OAuth settings both forms read alike: grant order, authorize types, webhook.
//! - `oas.rs`: Tyk OAS import ([`import_oas`]): the document, `x-tyk-api-gateway`, versioning.
//! - `oas_auth.rs`: Tyk OAS authentication: security schemes, OAuth flows, `authToken`.
//! - `export.rs`: Tyk OAS export ([`export_oas`]).
//! - `classic.rs`: Tyk Classic import ([`import_classic`]), `version_data` included.
//! - `classic_export.rs`: Tyk Classic export ([`export_classic`]).
//! - `credentials.rs`: where tokens are read from (header, query parameter, cookie), both forms.
//! - `extension.rs`: Gatehouse's own block (`x-gatehouse`, `gatehouse`), its keys per form,
//!   written and read once for both.
//! - `oas_tests.rs`, `classic_tests.rs`: each importer's unit tests; `roundtrip_tests.rs`: the
//!   export → import property tests (proptest). `tests/tyk_import.rs`: Tyk's own OAuth example.
//!
//! # Nothing dropped silently
//! Tyk users migrate by handing Gatehouse the definitions they already have: Tyk OAS (an
//! OpenAPI 3 document carrying `x-tyk-api-gateway`) or Tyk Classic (bare, or wrapped in
//! `{"api_definition": …}` as the Dashboard takes it). Gatehouse supports a small part of what
//! those formats can say, so the import never drops a setting silently: every field it does not
//! carry over comes back as a warning naming its JSON path, and every setting whose loss would
//! weaken security (another authentication method: Gatehouse would serve the API keyless) is an
//! [`ImportError`].
//!
//! Everything here is pure: text in, values out. The imported [`Api`](gatehouse_model::Api) has passed
//! [`Api::validate`](gatehouse_model::Api::validate) (so its listen path is normalised), except that `api_id` stays empty when
//! the definition has none: the control plane assigns one.
//!
//! # Export → import is the identity
//! Every setting of an [`Api`](gatehouse_model::Api) survives [`export_oas`] → [`import_oas`] and [`export_classic`]
//! → [`import_classic`] without warnings (a property test in `roundtrip_tests.rs` checks it over
//! generated APIs). Where Tyk's format has a place for a setting, the export uses it:
//!
//! | Setting | Tyk OAS | Tyk Classic |
//! |---|---|---|
//! | listen path, strip | `server.listenPath` | `proxy.listen_path`, `strip_listen_path` |
//! | upstream URL | `upstream.url` | `proxy.target_url` |
//! | OAuth grants | OpenAPI `flows` + `refreshToken` | `oauth_meta.allowed_access_types` |
//! | authorize types, login redirect, webhook | the `oauth` scheme | `oauth_meta`, `notifications` |
//! | `token_auth` (no `oauth`) | an `authToken` scheme (OpenAPI `apiKey`) | `use_standard_auth` |
//! | credential header, query parameter, cookie | the scheme's `header`, `query`, `cookie` | `auth_configs.<oauth\|authToken>` |
//! | `strip_auth_data` | `authentication.stripAuthorizationData` | `strip_auth_data` |
//! | keyless | `authentication.enabled: false` | `use_keyless: true` |
//! | versioning | `x-gatehouse.versioning` | `definition` + `version_data` |
//!
//! What Tyk keeps elsewhere or has no place for travels in Gatehouse's own extension, which Tyk
//! ignores and the importers read back: `x-gatehouse` in an OAS document (camelCase keys),
//! `gatehouse` in a Classic definition (snake_case keys). It carries `tokenAuth`/`token_auth`
//! (which an OAuth API also accepting other APIs' tokens needs, and which tells an auth token
//! scheme of Gatehouse's own export from Tyk's: a Tyk auth token (`apiKey` scheme,
//! `use_standard_auth`) imports as `token_auth` too, with a warning that Tyk's standalone keys
//! have no counterpart; with signature validation it is refused), the token lifetimes
//! and error status (`oauth`), the upstream CA bundle and client certificate paths
//! (`upstreamTls`/`upstream_tls`: Tyk names certificates by id in its own store), and in OAS the
//! versioning (Tyk OAS versions are separate APIs, Gatehouse's are names on one API).
//!
//! The round trip normalises what means the same: grants come back in one canonical order
//! without repeats, `allowed_authorize_types` without repeats, a credential header named
//! `Authorization` in any case as the default (empty), and Classic version names (JSON object
//! keys) sorted and without repeats. An API without a name does not export to a definition Tyk
//! accepts, and its import is refused naming `info.name` / `name`.
//!
//! # Keyless only on purpose
//! [`Imported::explicitly_keyless`] tells the control plane whether a keyless result is what the
//! document says (`authentication.enabled: false`, `use_keyless: true`) or only what is left
//! when its authentication is missing; the control plane refuses to replace a protected API by
//! the latter unless the caller opts in.

mod classic;
mod classic_export;
mod credentials;
mod export;
mod extension;
mod imported;
mod oas;
mod oas_auth;
mod oauth;
mod path;
mod validate;

#[cfg(test)]
mod classic_tests;
#[cfg(test)]
mod oas_tests;
#[cfg(test)]
mod roundtrip_tests;
#[cfg(test)]
mod token_auth_tests;

pub use classic::import_classic;
pub use classic_export::export_classic;
pub use export::export_oas;
pub use imported::{ImportError, Imported, parse_json};
pub use oas::import_oas;
