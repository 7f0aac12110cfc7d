//! `gatehouse admin apis …`: `ApiService`.

use std::path::PathBuf;

use super::output::{self, Fields, Table, list, or_dash, yes_no};
use super::{Conn, input, note, rpc_error};
use crate::pb;

#[derive(clap::Subcommand)]
pub enum ApisCommand {
    /// List all APIs.
    List,
    /// Show one API.
    Get { api_id: String },
    /// Create an API from Gatehouse's API JSON, as POST /api/apis takes it (api_id is generated
    /// when empty).
    Create {
        /// JSON file of the API (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Replace an API with the content of a JSON file.
    Update {
        api_id: String,
        /// JSON file of the API (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete an API and its client apps.
    Delete { api_id: String },
    /// Create an API from a Tyk Classic API definition, bare or wrapped as the Tyk Dashboard
    /// takes it (`{"api_definition": {...}}`). What cannot be carried over is listed as warnings.
    ImportClassic {
        /// JSON file of the definition (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Create an API from a Tyk OAS API definition (OpenAPI with `x-tyk-api-gateway`).
    ImportOas {
        /// JSON file of the OpenAPI document (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Replace an API with a Tyk OAS API definition.
    UpdateOas {
        api_id: String,
        /// JSON file of the OpenAPI document (`-`: stdin).
        #[arg(long)]
        file: PathBuf,
        /// Make a protected API keyless even though the document leaves its authentication out
        /// (without this, such an update is refused).
        #[arg(long)]
        allow_keyless: bool,
    },
    /// Print an API as a Tyk OAS API definition (JSON, ready for `import-oas` / `update-oas`).
    ExportOas { api_id: String },
    /// Print an API as a Tyk Classic API definition (`{"api_definition": …}`, ready for
    /// `import-classic`).
    ExportClassic { api_id: String },
}

pub async fn run(cmd: ApisCommand, conn: &Conn) -> anyhow::Result<String> {
    let mut client = conn.apis();
    match cmd {
        ApisCommand::List => {
            let r = client.list_apis(pb::ListApisRequest::default()).await.map_err(rpc_error)?.into_inner();
            conn.render(&r, |r| table(&r.apis))
        }
        ApisCommand::Get { api_id } => {
            let api = client.get_api(pb::GetApiRequest { api_id }).await.map_err(rpc_error)?.into_inner();
            conn.render(&api, fields)
        }
        ApisCommand::Create { file } => {
            let api: pb::Api = input::json_file(&file, "API")?;
            let request = pb::CreateApiRequest { api: Some(api) };
            let api = client.create_api(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&api, fields)
        }
        ApisCommand::Update { api_id, file } => {
            let api: pb::Api = input::json_file(&file, "API")?;
            let request = pb::UpdateApiRequest { api_id, api: Some(api) };
            let api = client.update_api(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&api, fields)
        }
        ApisCommand::Delete { api_id } => {
            let request = pb::DeleteApiRequest { api_id: api_id.clone() };
            let status = client.delete_api(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {api_id}", s.message))
        }
        ApisCommand::ImportClassic { file } => {
            // The server accepts the definition bare or wrapped, so it is passed on as it is.
            let definition: pbjson_types::Struct = input::json_file(&file, "Tyk Classic API definition")?;
            let api = pb::Api { api_definition: Some(definition), ..Default::default() };
            let request = pb::CreateApiRequest { api: Some(api) };
            let api = client.create_api(request).await.map_err(rpc_error)?.into_inner();
            imported(conn, &api)
        }
        ApisCommand::ImportOas { file } => {
            let document = input::json_file(&file, "Tyk OAS API definition")?;
            let request = pb::ImportOasRequest { document: Some(document) };
            let api = client.import_oas(request).await.map_err(rpc_error)?.into_inner();
            imported(conn, &api)
        }
        ApisCommand::UpdateOas { api_id, file, allow_keyless } => {
            let document = input::json_file(&file, "Tyk OAS API definition")?;
            let request = pb::UpdateOasRequest { api_id, document: Some(document), allow_keyless };
            let api = client.update_oas(request).await.map_err(rpc_error)?.into_inner();
            imported(conn, &api)
        }
        ApisCommand::ExportOas { api_id } => {
            let r = client.export_oas(pb::ExportOasRequest { api_id }).await.map_err(rpc_error)?.into_inner();
            // The document is JSON by nature: print it bare, so `export-oas > f.json` can be
            // edited and fed back; `-o yaml` prints it as YAML (which `apply -f` takes), and
            // `-o json` the response message around it, as `--json` always has.
            match conn.format {
                output::Format::Table => output::json(&r.document.unwrap_or_default()),
                output::Format::Json => output::json(&r),
                output::Format::Yaml => output::yaml(&r.document.unwrap_or_default()),
            }
        }
        ApisCommand::ExportClassic { api_id } => {
            let request = pb::ExportClassicRequest { api_id };
            let r = client.export_classic(request).await.map_err(rpc_error)?.into_inner();
            // Already the Dashboard's wrapper, which import-classic takes as it is.
            output::json(&r)
        }
    }
}

/// An API created from a Tyk definition. Warnings name what was not carried over; they are
/// repeated on stderr because an import that silently lost a setting is worse than none.
fn imported(conn: &Conn, api: &pb::Api) -> anyhow::Result<String> {
    if !api.warnings.is_empty() {
        note(&format!("{} setting(s) of the definition were not imported; see warnings", api.warnings.len()));
    }
    conn.render(api, fields)
}

fn table(apis: &[pb::Api]) -> String {
    let mut t = Table::new(&["API_ID", "NAME", "LISTEN_PATH", "UPSTREAM", "AUTH"]);
    for api in apis {
        t.row(vec![
            api.api_id.clone(),
            or_dash(&api.name),
            api.listen_path.clone(),
            api.upstream_url.clone(),
            auth_summary(api),
        ]);
    }
    t.render()
}

/// `keyless`, `token_auth`, or `oauth:` and the grants the token endpoint accepts (and
/// `+token_auth` when it accepts other APIs' tokens too).
fn auth_summary(api: &pb::Api) -> String {
    match (&api.oauth, api.token_auth) {
        (None, false) => "keyless".to_owned(),
        (None, true) => "token_auth".to_owned(),
        (Some(o), token_auth) => {
            let also = if token_auth { "+token_auth" } else { "" };
            format!("oauth:{}{also}", list(&o.allowed_grant_types))
        }
    }
}

fn fields(api: &pb::Api) -> String {
    let mut f = Fields::new();
    f.add("api_id", &api.api_id)
        .add("name", &api.name)
        .add("listen_path", &api.listen_path)
        .add("strip_listen_path", yes_no(api.strip_listen_path))
        .add("upstream_url", &api.upstream_url);
    // A token_auth API is protected: never show it as keyless.
    match (&api.oauth, api.token_auth) {
        (None, false) => {
            f.add("auth", "keyless");
        }
        (None, true) => {
            f.add("auth", "token_auth");
        }
        (Some(o), token_auth) => {
            oauth_fields(&mut f, o);
            if token_auth {
                f.add("token_auth", yes_no(true));
            }
        }
    }
    for (i, warning) in api.warnings.iter().enumerate() {
        f.add(format!("warnings[{i}]"), warning);
    }
    f.render()
}

fn oauth_fields(f: &mut Fields, o: &pb::OAuthSettings) {
    // Zero means "the default" on the wire; say which, rather than print a misleading 0.
    let ttl = |v: u32, default: &str| if v == 0 { format!("default ({default})") } else { format!("{v}s") };
    f.add("oauth.allowed_grant_types", list(&o.allowed_grant_types))
        .add("oauth.allowed_authorize_types", list(&o.allowed_authorize_types))
        .add("oauth.auth_login_redirect", or_dash(&o.auth_login_redirect))
        .add("oauth.access_token_ttl", ttl(o.access_token_ttl_seconds, "3600s"))
        .add("oauth.refresh_token_ttl", ttl(o.refresh_token_ttl_seconds, "14 days"))
        .add("oauth.code_ttl", ttl(o.code_ttl_seconds, "60s"))
        .add(
            "oauth.error_status_code",
            if o.error_status_code == 0 { "RFC 6749".to_owned() } else { o.error_status_code.to_string() },
        );
    if let Some(n) = o.notifications.as_ref().filter(|n| !n.url.is_empty()) {
        // The shared secret is a credential of the webhook receiver; `--json` has it for
        // scripts that need it, the screen does not.
        let secret = if n.shared_secret.is_empty() { "-" } else { "(set, hidden; see --json)" };
        f.add("oauth.notifications.url", &n.url).add("oauth.notifications.shared_secret", secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_and_oauth_apis_read_differently() {
        let mut api = pb::Api {
            api_id: "a".into(),
            listen_path: "/a/".into(),
            upstream_url: "http://u".into(),
            ..Default::default()
        };
        assert!(fields(&api).lines().any(|l| l.starts_with("auth:") && l.ends_with(" keyless")));
        api.oauth = Some(pb::OAuthSettings {
            allowed_grant_types: vec!["client_credentials".into(), "refresh_token".into()],
            notifications: Some(pb::Notifications {
                url: "http://hook".into(),
                shared_secret: "s3cr3t".into(),
            }),
            ..Default::default()
        });
        let text = fields(&api);
        assert!(text.contains("client_credentials,refresh_token"), "{text}");
        assert!(text.contains("default (3600s)"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(table(&[api]).contains("oauth:client_credentials,refresh_token"));
    }
}
