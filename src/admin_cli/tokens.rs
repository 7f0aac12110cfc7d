//! `gatehouse admin tokens …`: `TokenService`, revocation and authorization codes.

use super::output::{Fields, Table, timestamp};
use super::{Conn, input, rpc_error};
use crate::pb;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum TokenHint {
    #[value(name = "access_token")]
    AccessToken,
    #[value(name = "refresh_token")]
    RefreshToken,
}

impl TokenHint {
    fn as_wire(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

#[derive(clap::Subcommand)]
pub enum TokensCommand {
    /// List the live tokens of a client: their ids in the store (Gatehouse keeps only keyed
    /// hashes of tokens, so the tokens themselves cannot be shown) and when they expire.
    List {
        api_id: String,
        client_id: String,
        /// One page of 100 tokens (from 1) instead of all of them.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        page: Option<i32>,
    },
    /// Revoke every token of a client. As in Tyk, the client's secret must be given; it is read
    /// from stdin.
    RevokeAll {
        client_id: String,
        /// Read the client's secret from stdin (required: there is no flag for the secret
        /// itself, as flags end up in shell history and `ps`).
        #[arg(long, required = true)]
        secret_stdin: bool,
    },
    /// Revoke an access or refresh token of a client (a refresh token takes the tokens issued
    /// with it along). An unknown token is not an error (RFC 7009).
    Revoke {
        client_id: String,
        /// The token; `-` reads it from stdin, which keeps a still-valid token out of shell
        /// history.
        token: String,
        /// Which kind of token it is; both are searched when absent.
        #[arg(long, value_enum)]
        hint: Option<TokenHint>,
    },
    /// Issue an authorization code for a client, as an identity server does once its user has
    /// logged in and approved. Prints the code and the redirect to send the user to.
    Authorize {
        api_id: String,
        client_id: String,
        /// The client's registered redirect URI (exact match).
        #[arg(long)]
        redirect_uri: Option<String>,
        #[arg(long, default_value = "code")]
        response_type: String,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        /// PKCE challenge (required for public clients).
        #[arg(long)]
        code_challenge: Option<String>,
        /// PKCE method; only S256 is accepted.
        #[arg(long)]
        code_challenge_method: Option<String>,
        /// Tyk's session override, a JSON object: policy_id (or apply_policies) and meta_data.
        #[arg(long)]
        key_rules: Option<String>,
    },
}

pub async fn run(cmd: TokensCommand, conn: &Conn) -> anyhow::Result<String> {
    let mut service = conn.tokens();
    match cmd {
        TokensCommand::List { api_id, client_id, page } => {
            let mut request =
                pb::ListClientTokensRequest { api_id, client_id, p: page.unwrap_or(1), page: None };
            let mut r = service.list_client_tokens(request.clone()).await.map_err(rpc_error)?.into_inner();
            if page.is_none() {
                // Without --page, all pages: "which tokens does this client have" means all.
                for p in 2..=r.pages {
                    request.p = p;
                    let more = service.list_client_tokens(request.clone()).await.map_err(rpc_error)?;
                    r.tokens.extend(more.into_inner().tokens);
                }
            }
            // The Tyk Gateway API's copy of one page: not this command's to print.
            r.tyk_gateway = None;
            conn.render(&r, |r| table(&r.tokens))
        }
        TokensCommand::RevokeAll { client_id, secret_stdin: _ } => {
            // `--secret-stdin` is required, so stdin is where the secret is.
            let client_secret = input::secret_from_stdin("client secret")?;
            let request = pb::RevokeAllTokensRequest {
                client_id: client_id.clone(),
                client_secret,
                org_id: String::new(),
            };
            let status = service.revoke_all_tokens(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| format!("{}: {client_id}", s.message))
        }
        TokensCommand::Revoke { client_id, token, hint } => {
            let token = if token == "-" { input::secret_from_stdin("token")? } else { token };
            let request = pb::RevokeTokenRequest {
                client_id,
                token,
                token_type_hint: hint.map(TokenHint::as_wire).unwrap_or_default().to_owned(),
                // The admin secret authorizes the call; the client's secret is not needed.
                client_secret: String::new(),
                org_id: String::new(),
            };
            let status = service.revoke_token(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&status, |s| s.message.clone())
        }
        TokensCommand::Authorize {
            api_id,
            client_id,
            redirect_uri,
            response_type,
            state,
            scope,
            code_challenge,
            code_challenge_method,
            key_rules,
        } => {
            let request = pb::AuthorizeClientRequest {
                api_id,
                response_type,
                client_id,
                redirect_uri: redirect_uri.unwrap_or_default(),
                state: state.unwrap_or_default(),
                scope: scope.unwrap_or_default(),
                code_challenge: code_challenge.unwrap_or_default(),
                code_challenge_method: code_challenge_method.unwrap_or_default(),
                key_rules: key_rules.unwrap_or_default(),
                listen_path: String::new(),
            };
            let r = service.authorize_client(request).await.map_err(rpc_error)?.into_inner();
            conn.render(&r, |r| {
                Fields::new().add("code", &r.code).add("redirect_to", &r.redirect_to).render()
            })
        }
    }
}

/// What a token id in the store stands for (see `ClientToken.code` in token.proto).
fn kind(code: &str) -> &'static str {
    if code.starts_with("at:") {
        "access token"
    } else if code.starts_with("fam:") {
        "token family"
    } else {
        "-"
    }
}

fn table(tokens: &[pb::ClientToken]) -> String {
    let mut t = Table::new(&["KIND", "EXPIRES", "ID"]);
    for token in tokens {
        let expires = pbjson_types::Timestamp { seconds: i64::from(token.expires), nanos: 0 };
        t.row(vec![kind(&token.code).to_owned(), timestamp(Some(&expires)), token.code.clone()]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_say_what_they_stand_for_and_expiry_is_a_date() {
        let tokens = [
            pb::ClientToken { code: "at:abc".into(), expires: 0 },
            pb::ClientToken { code: "fam:def".into(), expires: 86_400 },
        ];
        let text = table(&tokens);
        assert!(text.contains("access token  1970-01-01T00:00:00+00:00  at:abc"), "{text}");
        assert!(text.contains("token family  1970-01-02T00:00:00+00:00  fam:def"), "{text}");
        assert_eq!(kind("other"), "-");
    }
}
