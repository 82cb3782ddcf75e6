//! Sales and project set-up: pipelines, milestones, lost reasons (opportunities) and boards,
//! stages (projects).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::NestedRef;
use super::common::number;

/// A sales pipeline (`/pipelines`, keys `pipeline` / `pipelines`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
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
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// With `includeDeleted=true`; bool or timestamp, not pinned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An opportunity stage (`/milestones`, keys `milestone` / `milestones`). `complete` is true for
/// Won and Lost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
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
    pub complete: Option<bool>,
    /// 0–100.
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub probability: Option<i64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub days_until_stale: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why an opportunity was lost (`/lostreasons`, keys `lostReason` / `lostReasons`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LostReason {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_for_conversion: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A project pipeline (`/boards`, keys `board` / `boards`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Board {
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
    /// The board's default team, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Bool or timestamp, not pinned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A project stage (`/stages`, keys `stage` / `stages`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
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
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::unwrap_list;
    use serde_json::json;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn decodes_pipelines_and_milestones() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/pipelines_list.json"
        ));
        let pipelines: Vec<Pipeline> = unwrap_list(&body, "pipelines").unwrap();
        assert_eq!(pipelines[0].name.as_deref(), Some("SMB clients"));
        assert!(pipelines[0].deleted.is_none());

        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/milestones_pipeline_list.json"
        ));
        let milestones: Vec<Milestone> = unwrap_list(&body, "milestones").unwrap();
        assert_eq!(milestones.len(), 2);
        assert_eq!(milestones[0].days_until_stale, Some(10));
        assert_eq!(milestones[0].pipeline.as_ref().unwrap().id, Some(10));
        assert_eq!(milestones[1].description, None, "absent on Bid");
        assert_eq!(milestones[1].complete, Some(false));
    }

    #[test]
    fn decodes_lost_reasons_boards_and_stages() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/lost_reasons_list.json"
        ));
        let reasons: Vec<LostReason> = unwrap_list(&body, "lostReasons").unwrap();
        assert_eq!(reasons[0].included_for_conversion, Some(true));

        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/boards_list.json"
        ));
        let boards: Vec<Board> = unwrap_list(&body, "boards").unwrap();
        assert_eq!(boards[0].name.as_deref(), Some("Onboarding"));

        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/stages_list.json"
        ));
        let stages: Vec<Stage> = unwrap_list(&body, "stages").unwrap();
        assert_eq!(stages[0].display_order, Some(1));
        assert_eq!(
            stages[0].board.as_ref().unwrap().name.as_deref(),
            Some("Onboarding")
        );
        assert!(stages[0].description.is_none());
    }

    #[test]
    fn keeps_unknown_fields_and_reports_paths() {
        let m: Milestone =
            serde_json::from_value(json!({"id": 3, "name": "Won", "colour": "green"})).unwrap();
        assert_eq!(m.extra.get("colour"), Some(&json!("green")));

        let body = json!({"milestones": [{"id": 1, "probability": "high"}]});
        let err = unwrap_list::<Milestone>(&body, "milestones").unwrap_err();
        assert_eq!(err.path, "milestones[0].probability");
    }
}
