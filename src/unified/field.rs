//! Custom field definitions, and the entity types that several resources span.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ref;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Contact,
    Account,
    Opportunity,
    Project,
}

impl EntityType {
    /// The valid values, for messages.
    pub const VALUES: &'static str = "contact, account, opportunity, project";

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Contact => "contact",
            EntityType::Account => "account",
            EntityType::Opportunity => "opportunity",
            EntityType::Project => "project",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(EntityType::Contact),
            "account" => Some(EntityType::Account),
            "opportunity" => Some(EntityType::Opportunity),
            "project" => Some(EntityType::Project),
            _ => None,
        }
    }
}

/// The unified custom field types: `string` (one line), `text` (long), `number`, `date`
/// (`YYYY-MM-DD`), `boolean`, `enum` (one of `options`), `url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Text,
    Number,
    Date,
    Boolean,
    Enum,
    Url,
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Field {
    pub id: String,
    /// The key of the field in a record's `custom_fields`.
    pub name: String,
    /// Same as `name`.
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `string`, `text` (long), `number`, `date`, `boolean`, `enum` or `url`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The choices of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<FieldOption>,
    /// The record kind this field was listed for.
    pub entity_type: EntityType,
    /// Capsule flags records that miss an important field.
    pub is_important: bool,
    /// The data tag the field belongs to: its value only applies to records with that tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_tag: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<i64>,
    /// The untouched Capsule definition, only with `include_remote_data: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_data: Option<Value>,
}

/// A choice of an `enum` field; Capsule's choices are plain strings, so both are the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldOption {
    pub label: String,
    pub value: String,
}
