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
    // A Basic secret may arrive in two forms (see `ClientCredentials::client_secret_as_sent`);
    // the second is only there when it differs from the first.
    let candidates = credentials.secret_candidates();
    // (verified, failure already counted)
    let (verified, counted) = match (client, candidates.first()) {
        (Some(client), None) if client.is_public() => return Ok(client),
        (Some(client), Some(_)) => match &client.secret_hash {
            Some(SecretHash::Argon2(phc)) if candidates.iter().any(|c| secret::remembered(c, phc)) => {
                (true, false)
            }
            Some(SecretHash::Argon2(phc)) => {
                let matched = guard.verify_argon2_any(store, subject, &candidates, Some(phc)).await?;
                if let Some(presented) = matched.and_then(|i| candidates.get(i)) {
                    secret::remember(presented, phc);
                }
                (matched.is_some(), true)
            }
            // Each form compared in constant time, and both always compared.
            Some(hash) => (candidates.iter().fold(false, |any, c| secret::verify(c, hash) | any), false),
            None => (false, false),
        },
        (Some(_), None) => (false, false),
        (None, _) => {
            let presented = if candidates.is_empty() { vec![""] } else { candidates.clone() };
            (guard.verify_argon2_any(store, subject, &presented, None).await?.is_some(), true)
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
