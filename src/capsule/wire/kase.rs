//! Projects, called "kases" on the wire: `/kases`, envelope keys `kase` / `kases`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{FieldValue, NestedParty, NestedRef, NestedUser, TagRef};

/// A project (§5.3.2). `startOn` is undocumented but seen in 2025 recordings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Kase {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<NestedParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<NestedRef>,
    /// `OPEN` or `CLOSED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<NestedUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contacted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_important_fields: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::{unwrap_list, unwrap_single};
    use serde_json::json;

    #[test]
    fn decodes_the_recorded_list_with_fields() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/kases_list_fields.json"
        ))
        .unwrap();
        let kases: Vec<Kase> = unwrap_list(&body, "kases").unwrap();
        let k = &kases[0];
        assert_eq!(k.id, Some(5588202));
        assert_eq!(k.status.as_deref(), Some("OPEN"));
        let stage = k.stage.as_ref().unwrap();
        assert_eq!(
            (stage.id, stage.name.as_deref()),
            (Some(271006), Some("Planning"))
        );
        assert!(k.opportunity.is_none() && k.start_on.is_none());
        assert_eq!(
            k.party.as_ref().unwrap().display_name().as_deref(),
            Some("Maia Hilton")
        );
        let field = &k.fields.as_ref().unwrap()[0];
        assert_eq!(field.tag_id, Some(168298));
        assert_eq!(field.value, json!("Skiing"));
        assert_eq!(
            field.definition.as_ref().unwrap().name.as_deref(),
            Some("Interests")
        );
    }

    #[test]
    fn decodes_the_recorded_create_response() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/kase_create_response.json"
        ))
        .unwrap();
        let k: Kase = unwrap_single(&body, "kase").unwrap();
        assert_eq!(k.id, Some(5271516));
        assert_eq!(k.owner.as_ref().unwrap().id, Some(674197));
        assert_eq!(k.expected_close_on.as_deref(), Some("2015-12-09"));
        assert!(k.start_on.is_none(), "absent in this recording");
    }

    #[test]
    fn keeps_unknown_fields_and_reports_paths() {
        let k: Kase = serde_json::from_value(json!({"id": 1, "archived": true, "tags": [{"id": 2, "name": "x", "dataTag": false, "colour": "red"}]})).unwrap();
        assert_eq!(k.extra.get("archived"), Some(&json!(true)));
        assert_eq!(
            k.tags.as_ref().unwrap()[0].extra.get("colour"),
            Some(&json!("red"))
        );

        let body = json!({"kase": {"id": 1, "fields": [{"id": 2}, {"id": 3, "tagId": "t"}]}});
        let err = unwrap_single::<Kase>(&body, "kase").unwrap_err();
        assert_eq!(err.path, "kase.fields[1].tagId");
    }
}
