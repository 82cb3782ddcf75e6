//! Opportunities: deals in a sales pipeline (Capsule `/opportunities`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CustomFields, Ref, Tag, is_empty_map};

/// A sales opportunity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Opportunity {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217 code of `amount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
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
    /// The current stage (Capsule milestone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Ref>,
    /// The pipeline of the current stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Ref>,
    /// `open`, `won` or `lost`.
    pub status: String,
    /// 0-100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<i64>,
    /// The date it closed (won or lost); absent while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<Ref>,
    /// Length of a recurring deal in `duration_basis` units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// `FIXED`, `HOUR`, `DAY`, `WEEK`, `MONTH`, `QUARTER` or `YEAR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_basis: Option<String>,
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

/// Writable opportunity fields (create and update). On update, fields left out keep their
/// value and `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct OpportunityFields {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub description: Option<Option<String>>,
    /// Main party, an organisation. Give this or `contact_id`.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Main party, a person. Give this or `account_id`.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// Stage id or name (crm_list_stages); a Won or Lost stage closes the deal.
    #[serde(default)]
    pub stage_id: Option<String>,
    #[serde(default)]
    pub amount: Option<f64>,
    /// ISO 4217 code such as `GBP`; Capsule's default currency when left out.
    #[serde(default)]
    pub currency: Option<String>,
    /// Why a lost deal was lost (id from Capsule `/lostreasons`).
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub lost_reason_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub expected_close_date: Option<Option<String>>,
    /// 0-100; only while the deal is open (defaults from the stage).
    #[serde(default)]
    pub probability: Option<i64>,
    /// Length of a recurring deal in `duration_basis` units; must be null with `FIXED`.
    #[serde(default, deserialize_with = "super::input::double_option")]
    pub duration: Option<Option<i64>>,
    /// `FIXED`, `HOUR`, `DAY`, `WEEK`, `MONTH`, `QUARTER` or `YEAR`.
    #[serde(default)]
    pub duration_basis: Option<String>,
    /// Id, username or email.
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub remote_data: Option<serde_json::Map<String, Value>>,
}
