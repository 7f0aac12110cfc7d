//! Client authentication at the token, introspection and revocation endpoints (RFC 6749
//! §2.3.1, §3.2.1), guarded against guessing by [`crate::throttle`].

use gatehouse_model::storage::FailureStore;
use gatehouse_model::{Api, Client, ConfigState, GrantType, SecretHash};

use crate::throttle::{Guard, Subject};
use crate::{OAuthError, TokenRequest, secret};

/// RFC 6749 §2.3.1 / §3.2.1: a confidential client proves its secret; a public client
/// only names itself (its proof is PKCE). Guarded against guessing ([`crate::throttle`]): a
/// locked-out client, address or (password grant) username is refused before any secret is
/// checked, and a failure is counted. Unknown client ids pay what a chosen secret costs, in the
/// same bounded pool, so timing does not tell them from clients whose secrets are guessable.
pub async fn authenticate<'s, S: FailureStore>(
    store: &S,
    guard: &Guard,
    state: &'s ConfigState,
    api: &Api,
    request: &TokenRequest,
) -> Result<&'s Client, OAuthError> {
    let Some(credentials) = &request.credentials else {
        return Err(OAuthError::invalid_client(false));
    };
    let subject = Subject::Client { api_id: &api.api_id, client_id: &credentials.client_id };
    // The password grant's username is checked here too, so a locked-out username costs no
    // client verification either.
    let user = request
        .param("username")
        .filter(|_| matches!(request.grant_type(), Ok(GrantType::Password)))
        .map(|username| Subject::User { api_id: &api.api_id, username });
    guard.check(store, &[Some(subject), user].into_iter().flatten().collect::<Vec<_>>()).await?;
    let client = state.client(&api.api_id, &credentials.client_id);
    // (verified, failure already counted)
    let (verified, counted) = match (client, credentials.client_secret.as_deref()) {
        (Some(client), None) if client.is_public() => return Ok(client),
        (Some(client), Some(presented)) => match &client.secret_hash {
            Some(SecretHash::Argon2(phc)) if secret::remembered(presented, phc) => (true, false),
            Some(SecretHash::Argon2(phc)) => {
                let ok = guard.verify_argon2(store, subject, presented, Some(phc)).await?;
                if ok {
                    secret::remember(presented, phc);
                }
                (ok, true)
            }
            Some(hash) => (secret::verify(presented, hash), false),
            None => (false, false),
        },
        (Some(_), None) => (false, false),
        (None, presented) => {
            (guard.verify_argon2(store, subject, presented.unwrap_or(""), None).await?, true)
        }
    };
    match client {
        Some(client) if verified => Ok(client),
        _ => {
            if !counted {
                guard.failed(store, subject).await;
            }
            Err(OAuthError::invalid_client(credentials.via_basic))
        }
    }
}
