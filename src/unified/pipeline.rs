//! Pipelines and their stages: opportunity pipelines and milestones, project boards and stages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ref;

/// A stage as listed inside its pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineStage {
    pub id: String,
    pub name: String,
    /// 1-based order within the pipeline.
    pub position: i64,
    /// Win probability 0-100 (opportunity stages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<i64>,
    /// `open`, `won` or `lost` (opportunity stages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// An opportunity pipeline or a project board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `opportunity` (a sales pipeline) or `project` (a project board).
    pub entity: String,
    pub stages: Vec<PipelineStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// A stage of an opportunity pipeline (Capsule milestone) or of a project board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stage {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 1-based order within the pipeline.
    pub position: i64,
    /// Win probability 0-100 (opportunity stages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<i64>,
    /// `open`, `won` or `lost` (opportunity stages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Days in this stage before an opportunity counts as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_until_stale: Option<i64>,
    /// The pipeline (or project board) the stage belongs to.
    pub pipeline: Ref,
    /// `opportunity` or `project`.
    pub entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The untouched Capsule record, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}
