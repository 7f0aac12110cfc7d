//! Parsing token requests strictly (RFC 6749 §3.2, §2.3.1): the form, and the client
//! credentials it or the `Authorization` header carries. What the token endpoint's grant asks
//! for is typed from it in [`crate::grant_request`].

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_model::GrantType;
use percent_encoding::percent_decode_str;

use crate::OAuthError;
use crate::error::parameter_label;

/// Largest token request body accepted; a real one is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The parameters of a token request, each present at most once (RFC 6749 §3.2: parameters
/// MUST NOT be included more than once), with empty values treated as absent.
#[derive(Default)]
pub struct TokenRequest {
    params: HashMap<String, String>,
    pub credentials: Option<ClientCredentials>,
}

impl std::fmt::Debug for TokenRequest {
    // Parameter values include secrets, codes and passwords: print the names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.params.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("TokenRequest")
            .field("params", &names)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Who the request says it is, and how it said so.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The secret exactly as HTTP Basic carried it, when RFC 6749 §2.3.1's form-decoding
    /// changed it (a `+` or `%` in it) and the body did not settle which form is meant. curl
    /// `-u`, requests, authlib and requests-oauthlib send secrets unencoded, so a secret
    /// migrated from Tyk holding `+` would otherwise arrive with a space in its place; client
    /// authentication tries this form when `client_secret` does not match.
    pub client_secret_as_sent: Option<String>,
    pub via_basic: bool,
}

impl ClientCredentials {
    /// The secrets to verify, in order: the decoded form, then the form as sent if it differs.
    pub fn secret_candidates(&self) -> Vec<&str> {
        self.client_secret.iter().chain(&self.client_secret_as_sent).map(String::as_str).collect()
    }
}

impl std::fmt::Debug for ClientCredentials {
    // Never print the secret, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("client_secret_as_sent", &self.client_secret_as_sent.as_ref().map(|_| "<redacted>"))
            .field("via_basic", &self.via_basic)
            .finish()
    }
}

impl TokenRequest {
    /// Parses a form-encoded body and the `Authorization` header value, if any.
    pub fn parse(body: &[u8], authorization: Option<&str>) -> Result<Self, OAuthError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(OAuthError::invalid_request("request body too large"));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("body is not valid form data"))?;
        let mut params = HashMap::new();
        for (name, value) in pairs {
            if value.contains('\0') {
                return Err(OAuthError::invalid_request(format!("{} contains NUL", parameter_label(&name))));
            }
            if value.is_empty() {
                continue;
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!("{} is repeated", parameter_label(&name))));
            }
        }
        let mut request = TokenRequest { params, credentials: None };
        request.credentials = request.client_credentials(authorization)?;
        Ok(request)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.param(name).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter: {name}")))
    }

    /// The grant the token endpoint is asked for: `invalid_request` when none is named,
    /// `unsupported_grant_type` for a name outside [`GrantType`].
    pub fn grant_type(&self) -> Result<GrantType, OAuthError> {
        self.require("grant_type")?
            .parse()
            .map_err(|()| OAuthError::new(crate::ErrorCode::UnsupportedGrantType, "unknown grant_type"))
    }

    /// Client credentials from HTTP Basic and/or the body. Both at once are accepted only when
    /// they agree: the seed's curl examples send both, and a disagreement is an attack or a bug.
    fn client_credentials(
        &self,
        authorization: Option<&str>,
    ) -> Result<Option<ClientCredentials>, OAuthError> {
        let basic = authorization.map(parse_basic).transpose()?.flatten();
        let form_id = self.param("client_id");
        let form_secret = self.param("client_secret");
        match basic {
            Some(Basic { id, secret, as_sent }) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(OAuthError::invalid_request("client_id in the body differs from HTTP Basic"));
                }
                // A secret in the body as well says which form of the Basic one is meant.
                let (secret, as_sent) = match form_secret {
                    None => (secret, as_sent),
                    Some(f) if f == secret => (secret, None),
                    Some(f) if as_sent.as_deref() == Some(f) => (f.to_owned(), None),
                    Some(_) => {
                        return Err(OAuthError::invalid_request(
                            "client_secret in the body differs from HTTP Basic",
                        ));
                    }
                };
                Ok(Some(ClientCredentials {
                    client_id: id,
                    client_secret: Some(secret),
                    client_secret_as_sent: as_sent,
                    via_basic: true,
                }))
            }
            None => Ok(form_id.map(|id| ClientCredentials {
                client_id: id.to_owned(),
                client_secret: form_secret.map(str::to_owned),
                client_secret_as_sent: None,
                via_basic: false,
            })),
        }
    }
}

/// HTTP Basic client credentials: the id and secret form-decoded, and the secret as sent when
/// decoding changed it.
struct Basic {
    id: String,
    secret: String,
    as_sent: Option<String>,
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1). `None` when the header
/// uses another scheme. The scheme name is case-insensitive (RFC 9110 §11.1). The id must
/// form-decode; a secret that does not (a `%` before bytes that are not UTF-8) is taken as
/// sent, since clients that do not encode send exactly such secrets.
fn parse_basic(header: &str) -> Result<Option<Basic>, OAuthError> {
    let Some((scheme, rest)) = header.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || OAuthError::invalid_client(true);
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, raw_secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    if id.is_empty() {
        return Err(malformed());
    }
    let basic = match form_decode(raw_secret) {
        Some(secret) if secret == raw_secret => Basic { id, secret, as_sent: None },
        Some(secret) => Basic { id, secret, as_sent: Some(raw_secret.to_owned()) },
        None => Basic { id, secret: raw_secret.to_owned(), as_sent: None },
    };
    Ok(Some(basic))
}

/// `application/x-www-form-urlencoded` decoding of one Basic credential part.
fn form_decode(part: &str) -> Option<String> {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().ok().map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn seed_example_sends_basic_and_matching_form() {
        // The seed's client_credentials curl example, verbatim.
        let body = b"grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret";
        let r = TokenRequest::parse(body, Some("Basic bXktY2xpZW50LWlkOm15LWNsaWVudC1zZWNyZXQ=")).unwrap();
        let c = r.credentials.as_ref().unwrap();
        assert_eq!(c.client_id, "my-client-id");
        assert_eq!(c.client_secret.as_deref(), Some("my-client-secret"));
        assert!(c.via_basic);
        assert_eq!(r.param("grant_type"), Some("client_credentials"));
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let r = TokenRequest::parse(b"grant_type=x", Some(&basic("my%20id:s%3Acret+x"))).unwrap();
        let c = r.credentials.unwrap();
        assert_eq!(c.client_id, "my id");
        assert_eq!(c.client_secret.as_deref(), Some("s:cret x"));
    }

    #[test]
    fn a_basic_secret_changed_by_decoding_is_kept_as_sent_too() {
        // As curl -u and requests send a Tyk-migrated secret: unencoded.
        let r = TokenRequest::parse(b"grant_type=x", Some(&basic("app:a+b%2Fc"))).unwrap();
        let c = r.credentials.unwrap();
        assert_eq!(c.secret_candidates(), ["a b/c", "a+b%2Fc"]);
        // Strictly encoded: the decoded form comes first (a raw "a%2Bb" is as likely).
        let r = TokenRequest::parse(b"", Some(&basic("app:a%2Bb"))).unwrap();
        assert_eq!(r.credentials.unwrap().secret_candidates(), ["a+b", "a%2Bb"]);
        // Nothing to decode: one form only, so nothing is verified twice.
        let r = TokenRequest::parse(b"", Some(&basic("app:plain"))).unwrap();
        assert_eq!(r.credentials.unwrap().secret_candidates(), ["plain"]);
        // `%` before bytes that do not decode to UTF-8: only the form as sent makes sense.
        let r = TokenRequest::parse(b"", Some(&basic("app:100%ff"))).unwrap();
        assert_eq!(r.credentials.unwrap().secret_candidates(), ["100%ff"]);
    }

    #[test]
    fn a_body_secret_says_which_form_of_the_basic_one_is_meant() {
        let header = basic("app:a+b");
        let r = TokenRequest::parse(b"client_secret=a%2Bb", Some(&header)).unwrap();
        assert_eq!(r.credentials.unwrap().secret_candidates(), ["a+b"]);
        let r = TokenRequest::parse(b"client_secret=a+b", Some(&header)).unwrap();
        assert_eq!(r.credentials.unwrap().secret_candidates(), ["a b"]);
        let e = TokenRequest::parse(b"client_secret=ab", Some(&header)).unwrap_err();
        assert_eq!(e.error_description, "client_secret in the body differs from HTTP Basic");
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let r = TokenRequest::parse(b"", Some(&basic("a:b").replace("Basic", "bAsIc"))).unwrap();
        assert_eq!(r.credentials.unwrap().client_id, "a");
    }

    #[test]
    fn disagreeing_credentials_are_refused() {
        let e = TokenRequest::parse(b"client_id=other", Some(&basic("a:b"))).unwrap_err();
        assert_eq!(e.error, crate::ErrorCode::InvalidRequest);
        let e = TokenRequest::parse(b"client_secret=other", Some(&basic("a:b"))).unwrap_err();
        assert_eq!(e.error, crate::ErrorCode::InvalidRequest);
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        assert!(TokenRequest::parse(b"grant_type=a&grant_type=b", None).is_err());
        let r = TokenRequest::parse(b"grant_type=&scope=x", None).unwrap();
        assert_eq!(r.param("grant_type"), None);
    }

    #[test]
    fn form_credentials_without_basic() {
        let r = TokenRequest::parse(b"client_id=a&client_secret=b", None).unwrap();
        let c = r.credentials.unwrap();
        assert!(!c.via_basic);
        assert_eq!(c.client_secret.as_deref(), Some("b"));
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        let e = TokenRequest::parse(b"", Some("Basic !!!")).unwrap_err();
        assert_eq!(e.error, crate::ErrorCode::InvalidClient);
        assert!(e.basic_challenge);
    }

    #[test]
    fn request_derived_names_are_never_echoed() {
        let e = TokenRequest::parse(b"%00=a&%00=b", None).unwrap_err();
        assert_eq!(e.error_description, "a parameter is repeated");
        let e = TokenRequest::parse(b"x%22y=a&x%22y=b", None).unwrap_err();
        assert_eq!(e.error_description, "a parameter is repeated");
        let e = TokenRequest::parse(b"grant_type=a&grant_type=b", None).unwrap_err();
        assert_eq!(e.error_description, "parameter grant_type is repeated");
        let e = TokenRequest::parse(b"%22evil%22=%00", None).unwrap_err();
        assert_eq!(e.error_description, "a parameter contains NUL");
    }

    /// Fuzz-style: arbitrary bodies and `Authorization` values, biased towards the characters
    /// that break JSON and RFC 6749 §5.2, never yield a description outside its character set.
    #[test]
    fn every_error_description_keeps_to_the_rfc_6749_set_for_arbitrary_input() {
        use rand::{Rng as _, SeedableRng as _};
        const PIECES: &[&str] = &[
            "=",
            "&",
            "%00",
            "%22",
            "%5C",
            "%",
            "%e9",
            "%ff",
            "+",
            "\"",
            "\\",
            "\u{0}",
            "\n",
            "é",
            "grant_type",
            "client_id",
            "client_secret",
            "scope",
            "a",
            "%0a",
            ":",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6174_6568_6f75_7365);
        let mut refused = 0;
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..rng.random_range(0..12) {
                if rng.random_bool(0.3) {
                    body.push(rng.random::<u8>());
                } else {
                    body.extend_from_slice(PIECES[rng.random_range(0..PIECES.len())].as_bytes());
                }
            }
            let header = match rng.random_range(0..3) {
                0 => None,
                1 => Some(format!("Basic {}", STANDARD.encode(&body))),
                _ => Some(String::from_utf8_lossy(&body).into_owned()),
            };
            if let Err(e) = TokenRequest::parse(&body, header.as_deref()) {
                refused += 1;
                let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
                let description = json["error_description"].as_str().unwrap();
                assert!(
                    description.chars().all(crate::error::is_description_char),
                    "{description:?} from {body:?}"
                );
            }
        }
        assert!(refused > 1_000, "the generator must reach the error paths ({refused} refusals)");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let r = TokenRequest::parse(b"client_id=a&client_secret=supersecret", None).unwrap();
        assert!(!format!("{:?}", r.credentials).contains("supersecret"));
    }
}
