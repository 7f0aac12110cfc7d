//! RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
//! request message that lacks a Host header field and to any request message that contains
//! more than one Host header field line or a Host header field with an invalid field value."
//!
//! HTTP/2 and HTTP/3 carry the authority in `:authority` (their framing checks it); HTTP/1.0
//! may omit `Host`, but a duplicate or invalid one is refused there too.

use http::{HeaderMap, Version, header::HOST};

/// Why a request's `Host` is refused, as the message a client sees.
pub fn check(version: Version, headers: &HeaderMap) -> Result<(), &'static str> {
    if version != Version::HTTP_11 && version != Version::HTTP_10 && version != Version::HTTP_09 {
        return Ok(());
    }
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => Err("an HTTP/1.1 request needs a Host header"),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err("more than one Host header"),
        (Some(host), None) if valid(host.as_bytes()) => Ok(()),
        (Some(_), None) => Err("the Host header is not a valid host[:port]"),
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2–3.2.3).
fn valid(value: &[u8]) -> bool {
    let (host, port) = match value.first() {
        Some(b'[') => match value.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &value[1..end];
                let is_v6 =
                    std::str::from_utf8(literal).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok());
                if !is_v6 {
                    return false;
                }
                match &value[end + 1..] {
                    [] => return true,
                    [b':', port @ ..] => (&[][..], Some(port)),
                    _ => return false,
                }
            }
            None => return false,
        },
        _ => match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        },
    };
    reg_name(host) && port.is_none_or(valid_port)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`; IPv4 addresses are reg-names too.
fn reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = host.get(i) {
        let ok = match b {
            b'%' => {
                let hex = host.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                i += 2;
                hex
            }
            b'-' | b'.' | b'_' | b'~' => true,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => true,
            b => b.is_ascii_alphanumeric(),
        };
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// `port = *DIGIT`, and a number a TCP port can be.
fn valid_port(port: &[u8]) -> bool {
    port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(port).ok().is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(hosts: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for host in hosts {
            map.append(HOST, HeaderValue::from_bytes(host).unwrap());
        }
        map
    }

    #[test]
    fn one_valid_host_passes() {
        for host in [
            &b"api.example.com"[..],
            b"api.example.com:8443",
            b"127.0.0.1:80",
            b"[::1]:8080",
            b"[2001:db8::1]",
            b"xn--bcher-kva.example",
            b"a%20b",
            // RFC 9110 §7.2: an empty value is a valid (empty) reg-name.
            b"",
        ] {
            assert_eq!(check(Version::HTTP_11, &headers(&[host])), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn missing_duplicate_or_invalid_is_refused() {
        assert!(check(Version::HTTP_11, &headers(&[])).is_err());
        assert!(check(Version::HTTP_11, &headers(&[b"a", b"a"])).is_err());
        assert!(check(Version::HTTP_10, &headers(&[b"a", b"b"])).is_err());
        for host in [
            &b"a b"[..],
            b"user@host",
            b"host/path",
            b"host:port",
            b"host:99999",
            b"host:1:2",
            b"[::1",
            b"[nothex]:80",
            b"[::1]x",
            b"a%2",
            b"a%zz",
            b"host\t",
            b"h\xc3\xa9",
        ] {
            assert!(check(Version::HTTP_11, &headers(&[host])).is_err(), "{host:?}");
            assert!(check(Version::HTTP_10, &headers(&[host])).is_err(), "{host:?}");
        }
    }

    #[test]
    fn http_1_0_may_omit_host_and_http_2_uses_authority() {
        assert_eq!(check(Version::HTTP_10, &headers(&[])), Ok(()));
        assert_eq!(check(Version::HTTP_2, &headers(&[])), Ok(()));
    }
}
