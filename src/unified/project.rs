//! Projects: Capsule "kases".

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CustomFields, Ref, Tag, is_empty_map};

/// A project (Capsule calls them cases, `kases` on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Ref>,
    /// The main party when it is an organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Ref>,
    /// The main party when it is a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<Ref>,
    /// Board stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Ref>,
    /// The board (project pipeline) of the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Ref>,
    /// `open` or `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Date the project was closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
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

/// Writable project fields (create and update). On update, fields left out keep their value
/// and `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ProjectFields {
    /// Project name; required on create.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-text description of the project.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub description: Option<Option<String>>,
    /// The main party, an organisation. Create needs this or `contact_id`.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub opportunity_id: Option<Option<String>>,
    /// Board stage id or name (crm_list_stages). Another board's stage moves the project there.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub stage_id: Option<Option<String>>,
    /// `open` or `closed` (closing sets `close_date`).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub expected_close_date: Option<Option<String>>,
    /// Id, username or email. Owner and team are written together: on update, the one
    /// left out keeps its current value.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub owner_id: Option<Option<String>>,
    /// Team id (directory_list_users groups); null takes the project off its team. The owner
    /// must be a member.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub team_id: Option<Option<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
