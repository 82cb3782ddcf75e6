//! Notes: timeline entries of type `note` (Capsule `/entries`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ref;

/// A note on a contact, account, opportunity or project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The user who wrote the note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    /// The organisation the note is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Ref>,
    /// The person the note is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Ref>,
    /// Capsule activity type (`-1` Note, `-2` Meeting, `-3` Call, custom ids above 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it happened (where it shows on the timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// The untouched Capsule entry, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}
