//! Tasks: to-dos with a due date, linked to at most one record.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ref;

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    pub id: String,
    /// The short title.
    pub subject: String,
    /// The longer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The task category.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    /// The linked organisation, if the task is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Ref>,
    /// The linked person, if the task is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Ref>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// `HH:MM:SS` in the owner's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    /// `open`, `completed` or `pending` (no longer relevant, set by Capsule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The user who completed the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// Writable task fields (create and update). On update, fields left out keep their value and
/// `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TaskFields {
    /// The short title; required on create.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub content: Option<Option<String>>,
    /// Category id (from `type.id` of tasks).
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub type_id: Option<Option<String>>,
    /// Category name such as `Call` or `Billing`, instead of `type_id`.
    #[serde(rename = "type", default)]
    pub type_name: Option<String>,
    /// `YYYY-MM-DD`; required on create.
    #[serde(default)]
    pub due_date: Option<String>,
    /// `HH:MM` or `HH:MM:SS` in the owner's time zone.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub due_time: Option<Option<String>>,
    /// Id, username or email; default: the token's user.
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Link to an organisation. At most one of the four links; on update, setting one replaces
    /// the current link.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    /// `completed` completes the task, `open` reopens it (`pending` is Capsule's to set).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
