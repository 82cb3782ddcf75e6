//! The deleted-records feed: what a sync must remove.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A record deleted in the CRM, or one the connected user may no longer see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeletedRecord {
    pub id: String,
    /// When it was deleted; null for restricted records.
    pub deleted_at: Option<String>,
    /// True when the record still exists but the connected user lost access to it.
    pub restricted: bool,
    /// The untouched Capsule item, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}
