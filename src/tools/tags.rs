//! Tags: the names records can be tagged and filtered with, per entity type (reference data,
//! cached; contacts and accounts share Capsule's party tags).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Kind, Meta, ToolSpec, parties, tool};
use crate::capsule::endpoint::{Endpoint, KASE_TAGS, OPPORTUNITY_TAGS, PARTY_TAGS};
use crate::unified::{EntityType, ListResult, Tag};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTags {
    pub entity_type: EntityType,
}

/// Capsule's tag collection for an entity type.
pub fn endpoint(entity: EntityType) -> &'static Endpoint {
    match entity {
        EntityType::Contact | EntityType::Account => &PARTY_TAGS,
        EntityType::Opportunity => &OPPORTUNITY_TAGS,
        EntityType::Project => &KASE_TAGS,
    }
}

pub fn tools() -> Vec<ToolSpec> {
    vec![tool(
        Meta {
            name: "crm_list_tags",
            title: "List tags",
            description: "To filter and write with.",
            toolset: "fields",
            kind: Kind::Read,
        },
        |app, a: ListTags, _cx| async move {
            let tags = parties::tags_in_use(&app, endpoint(a.entity_type)).await?;
            let result: Vec<Tag> = tags
                .into_iter()
                .map(|(id, name)| Tag {
                    id: Some(id.to_string()),
                    name,
                })
                .collect();
            Ok(ListResult {
                result_count: result.len(),
                result,
                next_cursor: None,
                truncated: None,
                searched: None,
            })
        },
    )]
}
