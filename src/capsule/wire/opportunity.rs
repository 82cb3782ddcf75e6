//! Opportunities: `/opportunities`, envelope keys `opportunity` / `opportunities`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{FieldValue, Money, NestedParty, NestedRef, NestedUser, TagRef};

/// An opportunity (§5.2.2). The pipeline is implied by `milestone`; there is no top-level
/// `pipeline` key. Dates (`*On`) and timestamps (`*At`) are kept as strings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Opportunity {
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
    pub milestone: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_open_milestone: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<NestedUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_on: Option<String>,
    /// 0–100.
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub probability: Option<i64>,
    /// `FIXED`, `HOUR`, `DAY`, `WEEK`, `MONTH`, `QUARTER` or `YEAR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_basis: Option<String>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contacted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stage_changed_at: Option<String>,
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
    use crate::capsule::wire::{PartyType, unwrap_list, unwrap_single};
    use serde_json::json;

    #[test]
    fn decodes_the_doc_list_example() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/opportunities_list.json"
        ))
        .unwrap();
        let list: Vec<Opportunity> = unwrap_list(&body, "opportunities").unwrap();
        let o = &list[0];
        assert_eq!(o.id, Some(12));
        assert_eq!(o.name.as_deref(), Some("Consulting"));
        assert_eq!(o.milestone.as_ref().unwrap().name.as_deref(), Some("Bid"));
        assert_eq!(o.last_open_milestone.as_ref().unwrap().id, Some(14));
        assert_eq!(o.value.as_ref().unwrap().amount, Some(500.0));
        assert_eq!(o.value.as_ref().unwrap().currency.as_deref(), Some("GBP"));
        assert_eq!(o.probability, Some(50));
        assert_eq!(o.duration_basis.as_deref(), Some("FIXED"));
        assert!(o.duration.is_none() && o.closed_on.is_none() && o.lost_reason.is_none());
        let party = o.party.as_ref().unwrap();
        assert_eq!(party.party_type, Some(PartyType::Organisation));
        assert_eq!(party.display_name().as_deref(), Some("Capsule"));
        assert_eq!(
            o.owner.as_ref().unwrap().username.as_deref(),
            Some("scottspacey")
        );
        assert!(o.extra.is_empty(), "{:?}", o.extra);
    }

    #[test]
    fn decodes_the_create_body_with_extras() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/opportunity_create_body.json"
        ))
        .unwrap();
        let o: Opportunity = unwrap_single(&body, "opportunity").unwrap();
        assert_eq!(o.duration, Some(6));
        assert_eq!(o.fields.as_ref().unwrap()[0].value, json!(42));

        let with_unknown: Opportunity = serde_json::from_value(json!({
            "id": 1, "tracks": [{"definition": {"id": 7}}], "tags": null
        }))
        .unwrap();
        assert!(with_unknown.extra.contains_key("tracks"));
        assert!(with_unknown.tags.is_none());
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"opportunities": [{"id": 1}, {"id": 2, "value": {"amount": "lots"}}]});
        let err = unwrap_list::<Opportunity>(&body, "opportunities").unwrap_err();
        assert_eq!(err.path, "opportunities[1].value.amount");
    }
}
