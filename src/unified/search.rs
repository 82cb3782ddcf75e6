//! Free-text search across contacts, accounts, opportunities and projects.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::EntityType;

/// One record the search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchHit {
    #[serde(rename = "type")]
    pub kind: EntityType,
    pub id: String,
    pub name: String,
    /// What tells it apart: account and email of a contact, stage and amount of a deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A record type whose search failed; the other types' hits still came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchFailure {
    #[serde(rename = "type")]
    pub kind: EntityType,
    pub status: u16,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    /// Types whose search failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<SearchFailure>,
}
