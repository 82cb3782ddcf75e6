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
    /// First and last name together.
    pub name: String,
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
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// Writable contact fields (create and update). On update, fields left out keep their value
/// and `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ContactFields {
    /// Given name.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub first_name: Option<Option<String>>,
    /// Family name.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub last_name: Option<Option<String>>,
    /// Job title.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub title: Option<Option<String>>,
    /// Salutation; must be one Capsule knows (`Mr`, `Mrs`, `Ms`, `Dr`, ...).
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub salutation: Option<Option<String>>,
    /// Free-text background about the person.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub description: Option<Option<String>>,
    /// The organisation (account id from crm_list_accounts); null unlinks.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub account_id: Option<Option<String>>,
    /// User id from crm_list_users.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Team id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Added to the contact; on update give `id` to change a row, `id` + `delete` to remove it.
    #[serde(default)]
    pub email_addresses: Option<Vec<super::input::EmailInput>>,
    /// Phone numbers, as for `email_addresses`.
    #[serde(default)]
    pub phone_numbers: Option<Vec<super::input::PhoneInput>>,
    /// Postal addresses, as for `email_addresses`.
    #[serde(default)]
    pub addresses: Option<Vec<super::input::AddressInput>>,
    /// Websites and social profiles, as for `email_addresses`.
    #[serde(default)]
    pub urls: Option<Vec<super::input::UrlInput>>,
    /// Tag names to add (created if new).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `{ "field name or id": value }`; null clears. Names from crm_list_fields (entity_type contact).
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    /// Raw Capsule party fields merged into the request body as-is.
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
