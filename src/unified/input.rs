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

/// An email address to add, change (`id`) or remove (`id` + `delete`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    /// Updates only: the row to change or delete (`email_addresses[].id` of the record).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Work", null]))]
    pub kind: Option<String>,
    /// Updates only: remove the row `id`.
    #[serde(default)]
    pub delete: bool,
}

/// A phone number to add, change (`id`) or remove (`id` + `delete`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    /// Updates only: the row to change or delete (`phone_numbers[].id`).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Work", "Mobile", "Fax", "Direct", null]))]
    pub kind: Option<String>,
    /// Updates only: remove the row `id`.
    #[serde(default)]
    pub delete: bool,
}

/// A postal address to add, change (`id`) or remove (`id` + `delete`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Updates only: the row to change or delete (`addresses[].id`).
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
    /// English country name, e.g. `United Kingdom`, `United States`, `Germany`.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(rename = "type", default)]
    #[schemars(extend("enum" = ["Home", "Postal", "Office", "Billing", "Shipping", null]))]
    pub kind: Option<String>,
    /// Updates only: remove the row `id`.
    #[serde(default)]
    pub delete: bool,
}

/// A web address to add, change (`id`) or remove (`id` + `delete`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlInput {
    /// Updates only: the row to change or delete (`urls[].id`).
    #[serde(default)]
    pub id: Option<String>,
    /// The address, e.g. `https://acme.example` (or a handle for social services).
    #[serde(default)]
    pub url: Option<String>,
    /// Service: `URL` (default), `LINKED_IN`, `TWITTER`, `FACEBOOK`, `GITHUB`, `YOUTUBE`, `INSTAGRAM`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Updates only: remove the row `id`.
    #[serde(default)]
    pub delete: bool,
}
