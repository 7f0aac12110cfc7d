//! API versions: which version a request asks for, and how it is named on the wire (Tyk's
//! `definition` + `version_data`).
//!
//! A versioned API names its versions; each request's version is read from a header, a query
//! parameter or the first path segment under the listen path, falling back to the default
//! version. Policies then grant versions per API (`access_rights.<api>.versions`).

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::id::check_id;

/// Where a request carries its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionLocation {
    /// A request header named by `key` (Tyk's `header`).
    Header,
    /// A query parameter named by `key` (Tyk's `url-param`).
    QueryParam,
    /// The first path segment under the listen path, e.g. `/orders/v2/items` (Tyk's `url`).
    UrlSegment,
}

impl VersionLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionLocation::Header => "header",
            VersionLocation::QueryParam => "query_param",
            VersionLocation::UrlSegment => "url_segment",
        }
    }
}

impl std::str::FromStr for VersionLocation {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "header" => Ok(VersionLocation::Header),
            "query_param" | "url-param" => Ok(VersionLocation::QueryParam),
            "url_segment" | "url" => Ok(VersionLocation::UrlSegment),
            _ => Err(()),
        }
    }
}

/// How an API is versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioning {
    pub location: VersionLocation,
    /// The header or query parameter name; unused for [`VersionLocation::UrlSegment`].
    #[serde(default)]
    pub key: String,
    /// The version of a request that names none; empty: such requests are refused.
    #[serde(default)]
    pub default_version: String,
    /// Every version the API serves.
    pub versions: Vec<String>,
    /// Remove the version from the request before proxying (Tyk's `strip_versioning_data`).
    #[serde(default)]
    pub strip: bool,
}

impl Versioning {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.versions.is_empty() {
            return Err(ValidationError::new("versioning.versions", "must name at least one version"));
        }
        for (i, name) in self.versions.iter().enumerate() {
            if name.is_empty() {
                return Err(ValidationError::new(format!("versioning.versions[{i}]"), "must not be empty"));
            }
            check_id(&format!("versioning.versions[{i}]"), name)?;
        }
        if !self.default_version.is_empty() && !self.versions.contains(&self.default_version) {
            return Err(ValidationError::new("versioning.default_version", "must be one of versions"));
        }
        let key_needed = self.location != VersionLocation::UrlSegment;
        if key_needed && (self.key.is_empty() || http::HeaderName::from_bytes(self.key.as_bytes()).is_err()) {
            return Err(ValidationError::new(
                "versioning.key",
                "must name the header or query parameter carrying the version",
            ));
        }
        Ok(())
    }

    /// The served version called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&str> {
        self.versions.iter().find(|v| *v == name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(versions: &[&str], default: &str) -> Versioning {
        Versioning {
            location: VersionLocation::Header,
            key: "x-api-version".into(),
            default_version: default.into(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
            strip: false,
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(header(&["v1", "v2"], "v1").validate().is_ok());
        assert!(header(&["v1"], "").validate().is_ok());
        assert_eq!(header(&[], "").validate().unwrap_err().field, "versioning.versions");
        assert_eq!(header(&["v1"], "v9").validate().unwrap_err().field, "versioning.default_version");
        assert_eq!(header(&["v1", "a b"], "").validate().unwrap_err().field, "versioning.versions[1]");
        let mut no_key = header(&["v1"], "v1");
        no_key.key.clear();
        assert_eq!(no_key.validate().unwrap_err().field, "versioning.key");
        no_key.location = VersionLocation::UrlSegment;
        assert!(no_key.validate().is_ok());
    }

    #[test]
    fn locations_parse_from_ours_and_tyks_names() {
        for (name, location) in [
            ("header", VersionLocation::Header),
            ("url-param", VersionLocation::QueryParam),
            ("query_param", VersionLocation::QueryParam),
            ("url", VersionLocation::UrlSegment),
        ] {
            assert_eq!(name.parse(), Ok(location));
        }
        assert!("cookie".parse::<VersionLocation>().is_err());
    }
}
