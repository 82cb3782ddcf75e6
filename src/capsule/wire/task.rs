//! Tasks: `/tasks`, envelope keys `task` / `tasks`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{NestedParty, NestedRef, NestedUser, is_null};
use super::reference::TaskCategory;

/// A task (§5.4.2). At most one of `party` / `opportunity` / `kase` is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    /// The short title; required on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<TaskCategory>,
    /// `YYYY-MM-DD`; required on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<String>,
    /// `HH:MM:SS` in the user's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_time: Option<String>,
    /// `OPEN`, `COMPLETED` or `PENDING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<NestedParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kase: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<NestedUser>,
    /// Documented as a username string, possibly a nested user: kept as raw JSON.
    #[serde(default, skip_serializing_if = "is_null")]
    pub completed_by: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// e.g. `{"interval": 3, "frequency": "MONTHLY", "on": "1"}`; shape not pinned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_track: Option<bool>,
    /// Track tasks only (`embed=nextTask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_task: Option<Box<Task>>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub days_after: Option<i64>,
    /// `TRACK_START`, `END_DATE` or `LAST_TASK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_delay_rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_day_delay_rule: Option<String>,
    /// Undocumented, seen in recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Undocumented, seen as `null` in recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_to_current_user: Option<Value>,
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
    fn decodes_the_recorded_create_response() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/task_create_response.json"
        ))
        .unwrap();
        let t: Task = unwrap_single(&body, "task").unwrap();
        assert_eq!(t.id, Some(147248893));
        assert_eq!(t.due_on.as_deref(), Some("2025-05-20"));
        assert_eq!(t.status.as_deref(), Some("OPEN"));
        assert_eq!(t.task_day_delay_rule.as_deref(), Some("TRACK_DAYS"));
        assert_eq!(t.active, Some(true));
        assert_eq!(t.has_track, Some(false));
        assert!(t.category.is_none() && t.next_task.is_none() && t.repeat.is_none());
        assert_eq!(t.completed_by, Value::Null);
        assert!(t.extra.is_empty(), "{:?}", t.extra);
    }

    #[test]
    fn decodes_the_doc_example() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/task_show_doc.json"
        ))
        .unwrap();
        let t: Task = unwrap_single(&body, "task").unwrap();
        let category = t.category.as_ref().unwrap();
        assert_eq!(category.id, Some(47));
        assert_eq!(category.colour.as_deref(), Some("#d36c00"));
        assert_eq!(
            t.party.as_ref().unwrap().display_name().as_deref(),
            Some("ABC Furniture")
        );
        assert_eq!(t.repeat.as_ref().unwrap()["frequency"], json!("MONTHLY"));
    }

    #[test]
    fn completed_by_accepts_a_string_or_a_user_and_next_task_nests() {
        let t: Task = serde_json::from_value(json!({
            "id": 1, "completedBy": "ted",
            "nextTask": {"id": 2, "description": "Follow up", "completedBy": {"id": 61}},
            "colourHint": "x"
        }))
        .unwrap();
        assert_eq!(t.completed_by, json!("ted"));
        let next = t.next_task.as_ref().unwrap();
        assert_eq!(next.completed_by, json!({"id": 61}));
        assert_eq!(t.extra.get("colourHint"), Some(&json!("x")));
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"tasks": [{"id": 1}, {"id": 2, "category": {"id": "Billing"}}]});
        let err = unwrap_list::<Task>(&body, "tasks").unwrap_err();
        assert_eq!(err.path, "tasks[1].category.id");
    }
}
