//! Security policies: access rights, rate limit, quota and key lifetime that tokens inherit
//! from their client app (Tyk's `apply_policies`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub name: String,
    /// By API id. Empty: no API restriction from this policy.
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// Requests per `per` seconds; 0: unlimited.
    pub rate: f64,
    pub per: f64,
    /// Requests per `quota_renewal_rate` seconds; ≤ 0: unlimited.
    pub quota_max: i64,
    pub quota_renewal_rate: i64,
    /// Seconds; 0: the API's access-token lifetime.
    pub key_expires_in: i64,
    pub tags: Vec<String>,
    pub meta_data: BTreeMap<String, String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessDefinition {
    pub api_id: String,
    pub api_name: String,
    pub versions: Vec<String>,
    pub allowed_urls: Vec<AccessSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSpec {
    /// A regular expression over the path under the listen path.
    pub url: String,
    pub methods: Vec<String>,
}

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];

impl Policy {
    /// Checks every field; names the first one that is wrong.
    pub fn validate(self) -> Result<Self, ValidationError> {
        crate::id::check_id("id", &self.id)?;
        if self.name.trim().is_empty() {
            return Err(ValidationError::new("name", "is required"));
        }
        if !self.rate.is_finite() || self.rate < 0.0 {
            return Err(ValidationError::new("rate", "must be a non-negative number"));
        }
        if !self.per.is_finite() || self.per < 0.0 || (self.rate > 0.0 && self.per == 0.0) {
            return Err(ValidationError::new("per", "must be a positive number of seconds when rate is set"));
        }
        if self.quota_max > 0 && self.quota_renewal_rate <= 0 {
            return Err(ValidationError::new(
                "quota_renewal_rate",
                "must be a positive number of seconds when quota_max is set",
            ));
        }
        if self.key_expires_in < 0 {
            return Err(ValidationError::new("key_expires_in", "must not be negative"));
        }
        for (api_id, access) in &self.access_rights {
            if !access.api_id.is_empty() && &access.api_id != api_id {
                return Err(ValidationError::new(
                    format!("access_rights.{api_id}.api_id"),
                    format!("{:?} differs from its key", access.api_id),
                ));
            }
            for (i, spec) in access.allowed_urls.iter().enumerate() {
                if spec.url.is_empty() {
                    return Err(ValidationError::new(
                        format!("access_rights.{api_id}.allowed_urls[{i}].url"),
                        "is required",
                    ));
                }
                if let Err(e) = regex::Regex::new(&spec.url) {
                    return Err(ValidationError::new(
                        format!("access_rights.{api_id}.allowed_urls[{i}].url"),
                        format!("is not a valid regular expression: {e}"),
                    ));
                }
                if let Some(m) = spec.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
                    return Err(ValidationError::new(
                        format!("access_rights.{api_id}.allowed_urls[{i}].methods"),
                        format!("{m:?} is not an HTTP method (upper case, e.g. \"GET\")"),
                    ));
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            id: "p1".into(),
            name: "gold".into(),
            access_rights: BTreeMap::new(),
            rate: 10.0,
            per: 60.0,
            quota_max: 1000,
            quota_renewal_rate: 3600,
            key_expires_in: 0,
            tags: vec![],
            meta_data: BTreeMap::new(),
            active: true,
        }
    }

    #[test]
    fn rules_name_the_field() {
        assert!(policy().validate().is_ok());
        type Breakage = fn(&mut Policy);
        let cases: [(Breakage, &str); 4] = [
            (|p| p.name.clear(), "name"),
            (|p| p.per = 0.0, "per"),
            (|p| p.quota_renewal_rate = 0, "quota_renewal_rate"),
            (|p| p.rate = f64::NAN, "rate"),
        ];
        for (break_it, field) in cases {
            let mut p = policy();
            break_it(&mut p);
            assert_eq!(p.validate().unwrap_err().field, field);
        }
        let mut p = policy();
        p.access_rights.insert(
            "a".into(),
            AccessDefinition {
                api_id: "a".into(),
                api_name: String::new(),
                versions: vec![],
                allowed_urls: vec![AccessSpec { url: "/x".into(), methods: vec!["get".into()] }],
            },
        );
        assert_eq!(p.validate().unwrap_err().field, "access_rights.a.allowed_urls[0].methods");
    }
}
