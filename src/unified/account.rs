//! Accounts: organisations (Capsule parties of type `organisation`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Address, CustomFields, EmailAddress, PhoneNumber, Ref, Tag, Url, is_empty_map};

/// An organisation in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<Url>,
    /// The first plain website (`type` `URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// Writable account fields (create and update). On update, fields left out keep their value
/// and `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct AccountFields {
    /// Organisation name (required on create).
    #[serde(default)]
    pub name: Option<String>,
    /// Free-text background about the organisation.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub description: Option<Option<String>>,
    /// Id, username or email.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub email_addresses: Option<Vec<super::input::EmailInput>>,
    #[serde(default)]
    pub phone_numbers: Option<Vec<super::input::PhoneInput>>,
    /// `country`: English name, e.g. `United Kingdom`.
    #[serde(default)]
    pub addresses: Option<Vec<super::input::AddressInput>>,
    /// `type`: `URL` (default), `LINKED_IN`, `TWITTER`, `GITHUB`, ...
    #[serde(default)]
    pub urls: Option<Vec<super::input::UrlInput>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
