//! Contacts: people (Capsule parties of type `person`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Address, CustomFields, EmailAddress, PhoneNumber, Ref, Tag, Url, is_empty_map};

/// A person in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// First and last name together, in lists; whole records give `first_name` and
    /// `last_name` instead (one form, not two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Salutation such as `Mr` or `Dr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    /// The organisation the person works for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Ref>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<Url>,
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
    /// The record's page in Capsule's web app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// Writable contact fields (create and update). On update, fields left out keep their value
/// and `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ContactFields {
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub salutation: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub account_id: Option<Option<String>>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub email_addresses: Option<Vec<super::input::EmailInput>>,
    #[serde(default)]
    pub phone_numbers: Option<Vec<super::input::PhoneInput>>,
    #[serde(default)]
    pub addresses: Option<Vec<super::input::AddressInput>>,
    #[serde(default)]
    pub urls: Option<Vec<super::input::UrlInput>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
