//! Serde for 32-byte values (secret hashes, the token key) as 64 lower-case hex digits, the
//! form they have in `state.json` and in Redis. Either case is read back.

use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    let digits = String::deserialize(d)?;
    if digits.len() != 64 {
        return Err(serde::de::Error::custom("expected 64 hex characters"));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(&digits, &mut out).map_err(serde::de::Error::custom)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Wrapped(#[serde(with = "super")] [u8; 32]);

    #[test]
    fn lower_case_out_either_case_in_exactly_64_digits() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let json = serde_json::to_string(&Wrapped(bytes)).unwrap();
        let digits = json.trim_matches('"');
        assert_eq!(digits.len(), 64);
        assert!(digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{digits}");
        assert_eq!(serde_json::from_str::<Wrapped>(&json).unwrap(), Wrapped(bytes));
        assert_eq!(serde_json::from_str::<Wrapped>(&json.to_uppercase()).unwrap(), Wrapped(bytes));
        let short = format!("\"{}\"", &digits[..62]);
        assert!(serde_json::from_str::<Wrapped>(&short).unwrap_err().to_string().contains("expected 64 hex"));
        let not_hex = format!("\"{}zz\"", &digits[..62]);
        assert!(serde_json::from_str::<Wrapped>(&not_hex).is_err());
        let multi_byte = format!("\"é{}\"", &digits[..62]);
        assert!(serde_json::from_str::<Wrapped>(&multi_byte).is_err());
    }
}
