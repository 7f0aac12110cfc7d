//! The name a verified client certificate stands for: its first DNS subject alternative name
//! (what cert-manager's `dnsNames` fill), else its subject common name.

use rustls::pki_types::CertificateDer;

/// The identity of a certificate the TLS layer already verified. `None` when it names nothing
/// usable, which callers treat as "no identity", never as a wildcard.
pub fn peer_identity(cert: &CertificateDer<'_>) -> Option<String> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    if let Some(name) = parsed.valid_dns_names().next() {
        return Some(name.to_owned());
    }
    common_name(parsed.subject())
}

/// OID 2.5.4.3 (id-at-commonName), DER-encoded with its tag and length.
const CN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];

/// The common name in a DER `Name` body (the SEQUENCE's contents: SETs of
/// SEQUENCE { OID, value }). A small walker: webpki exposes only the raw bytes.
fn common_name(subject: &[u8]) -> Option<String> {
    let mut sets = subject;
    while let Some((0x31, set, rest)) = tlv(sets) {
        sets = rest;
        let mut attributes = set;
        while let Some((0x30, attribute, rest)) = tlv(attributes) {
            attributes = rest;
            if let Some(value) = attribute.strip_prefix(&CN_OID[..]) {
                // UTF8String, PrintableString, IA5String, T61String: text we can show.
                if let Some((0x0c | 0x13 | 0x16 | 0x14, text, _)) = tlv(value) {
                    return std::str::from_utf8(text).ok().filter(|s| !s.is_empty()).map(str::to_owned);
                }
            }
        }
    }
    None
}

/// One DER tag-length-value: (tag, contents, what follows). `None` on anything malformed.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dns: &[&str], cn: &str) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(dns.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if !cn.is_empty() {
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn first_dns_name_wins_then_common_name() {
        assert_eq!(peer_identity(&cert(&["gw-1.fleet", "other"], "cn")).as_deref(), Some("gw-1.fleet"));
        assert_eq!(peer_identity(&cert(&[], "gateway-cn")).as_deref(), Some("gateway-cn"));
        assert_eq!(peer_identity(&cert(&[], "")), None);
    }

    #[test]
    fn malformed_der_is_no_identity() {
        assert_eq!(common_name(&[0x31, 0x05, 0x30]), None);
        assert_eq!(tlv(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
