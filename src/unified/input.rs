//! Write inputs shared by several resources.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// Distinguishes a field left out (`None`) from one set to null (`Some(None)`: clear it).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Work", null]))]
    pub kind: Option<String>,
    #[serde(default)]
    pub delete: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Work", "Mobile", "Fax", "Direct", null]))]
    pub kind: Option<String>,
    #[serde(default)]
    pub delete: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub street_1: Option<String>,
    #[serde(default)]
    pub street_2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// English name
    #[serde(default)]
    pub country: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Postal", "Office", "Billing", "Shipping", null]))]
    pub kind: Option<String>,
    #[serde(default)]
    pub delete: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub delete: bool,
}
