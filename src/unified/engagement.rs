//! Engagements (any timeline entry: notes, emails, calls, meetings, completed tasks) and
//! engagement types (Capsule activity types).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ref;

/// An activity on the timeline of a contact, account, opportunity or project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Engagement {
    pub id: String,
    /// `note`, `call`, `meeting`, `email`, `task_completed`, or a custom activity type's name.
    pub engagement_type: String,
    /// Capsule activity type (`-1` Note, `-2` Meeting, `-3` Call, `-4` Task completed, custom
    /// ids above 0); absent on emails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<Ref>,
    /// Emails only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The user who logged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ref>,
    /// When it happened (where it shows on the timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The same time as `start_time` (Capsule `entryAt`), under the name notes use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    /// Calls: `inbound` or `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Calls: how long, in whole seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    /// Calls: how it ended (`connected`, `voicemail`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Calls: where the recording is (http/https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// The organisation involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Ref>,
    /// The people involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Ref>,
    /// Emails: sender and recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Participant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The untouched Capsule entry, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

// Which way a call went (no doc comment: the enum values say it, and it would be paid in
// every engagement write schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A sender or recipient of an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Participant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `FROM`, `TO`, `CC`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A file attached to an engagement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// A kind of engagement (Capsule activity type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EngagementType {
    /// Negative for Capsule's built-ins (`-1` Note, `-2` Meeting, `-3` Call, `-4` Task completed).
    pub id: String,
    pub name: String,
    /// `note`, `meeting`, `call`, `task_completed` for the built-ins, `custom` otherwise.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether logging one updates the record's `last_activity_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates_last_contacted: Option<bool>,
    /// The untouched Capsule activity type, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}
