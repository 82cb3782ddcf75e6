//! Capsule ⇄ unified, one file per unified resource, tests at the bottom of each.

use serde_json::{Map, Value};

use super::{CapsuleError, wire};
use crate::unified::Ref;

pub mod deleted;
pub mod entry;
pub mod field_def;
pub mod fields;
pub mod opportunity;
pub mod party;
pub mod pipeline;
pub mod project;
pub mod search;
pub mod segment;
pub mod task;
pub mod user;

pub(crate) fn ref_of(r: &Option<wire::NestedRef>) -> Option<Ref> {
    let r = r.as_ref()?;
    Some(Ref {
        id: r.id?.to_string(),
        name: r.name.clone(),
    })
}

pub(crate) fn user_ref(u: &Option<wire::NestedUser>) -> Option<Ref> {
    let u = u.as_ref()?;
    Some(Ref {
        id: u.id?.to_string(),
        name: u.name.clone().or_else(|| u.username.clone()),
    })
}

pub(crate) fn party_ref(p: &Option<wire::NestedParty>) -> Option<Ref> {
    let p = p.as_ref()?;
    Some(Ref {
        id: p.id?.to_string(),
        name: p.display_name(),
    })
}

pub(crate) fn id_string(id: Option<i64>) -> Option<String> {
    id.map(|i| i.to_string())
}

/// Parses an activity type id: built-in types have negative ids (-1 Note … -4 Task completed).
pub fn parse_type_id(what: &str, id: &str) -> Result<i64, String> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n != 0)
        .ok_or_else(|| {
            format!("`{what}` must be an engagement type id such as \"-3\"; got \"{id}\"")
        })
}

/// Parses a record id (a string of digits) for Capsule.
pub fn parse_id(what: &str, id: &str) -> Result<i64, String> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("`{what}` must be a Capsule id (a positive whole number such as \"11587\"); got \"{id}\"")
        })
}

/// Parses an ISO-8601 timestamp argument into Capsule's form (`2025-10-14T00:11:23Z`).
pub fn parse_timestamp(what: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
            })
        })
        .map_err(|_| {
            format!("`{what}` must be an ISO-8601 timestamp such as 2025-10-14T00:11:23Z; got \"{value}\"")
        })
}

pub fn format_timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn decode_err(e: wire::DecodeError) -> CapsuleError {
    CapsuleError::Decode {
        path: e.path,
        message: e.message,
    }
}

/// Capsule fields the unified arguments write, with their checks (one link, the stage's
/// pipeline, owner and team together, the task status): `remote_data` may not set them.
const GUARDED_REMOTE_KEYS: &[&str] = &[
    "type",
    "party",
    "organisation",
    "opportunity",
    "kase",
    "milestone",
    "stage",
    "owner",
    "team",
    "status",
    "tags",
    "fields",
    "activityType",
    "lostReason",
    "category",
];

/// Merges `remote_data` (raw Capsule fields the unified model does not cover) into a body.
/// Fields the unified arguments cover are refused, so no check can be bypassed.
pub fn merge_remote(
    body: &mut Map<String, Value>,
    remote: Option<&Map<String, Value>>,
) -> Result<(), String> {
    let Some(remote) = remote else {
        return Ok(());
    };
    if let Some(key) = remote
        .keys()
        .find(|k| GUARDED_REMOTE_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "`remote_data.{key}` is written by this tool's own arguments (with their checks); \
             use those instead"
        ));
    }
    if let Some(key) = remote.keys().find(|k| body.contains_key(*k)) {
        return Err(format!(
            "`remote_data.{key}` would replace what this tool's own arguments set; give the \
             value once, through the argument"
        ));
    }
    for (k, v) in remote {
        body.insert(k.clone(), v.clone());
    }
    Ok(())
}

/// Names and ids resolved before a write: custom field rows and tag ids to remove.
#[derive(Debug, Default)]
pub struct Resolved {
    pub field_rows: Vec<Value>,
    pub remove_tag_ids: Vec<i64>,
}

/// Tag rows of a write body: names to add, ids to remove.
pub(crate) fn tag_rows(add: Option<&Vec<String>>, remove: &[i64]) -> Result<Vec<Value>, String> {
    let mut tags = Vec::new();
    for name in add.into_iter().flatten() {
        let name = name.trim();
        if name.is_empty() {
            return Err("`tags` items must be non-empty names".into());
        }
        tags.push(serde_json::json!({ "name": name }));
    }
    for id in remove {
        tags.push(serde_json::json!({ "id": id, "_delete": true }));
    }
    Ok(tags)
}

/// Tags embedded in a record, as unified tags.
pub(crate) fn tags_of(tags: &Option<Vec<wire::TagRef>>) -> Vec<crate::unified::Tag> {
    tags.iter()
        .flatten()
        .filter_map(|t| {
            Some(crate::unified::Tag {
                id: None,
                name: t.name.clone()?,
            })
        })
        .collect()
}

/// Whether a record's embedded tags include `tag` (a name, any case, or an id).
pub(crate) fn has_tag(tags: &Option<Vec<wire::TagRef>>, tag: &str) -> bool {
    tags.iter().flatten().any(|t| {
        t.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(tag))
            || t.id.map(|i| i.to_string()).as_deref() == Some(tag)
    })
}

/// Whether a record's `updatedAt` is strictly after `after` (an unknown time is not).
pub(crate) fn updated_after(
    updated_at: &Option<String>,
    after: chrono::DateTime<chrono::Utc>,
) -> bool {
    updated_at
        .as_deref()
        .and_then(|u| chrono::DateTime::parse_from_rfc3339(u).ok())
        .is_some_and(|u| u.with_timezone(&chrono::Utc) > after)
}

/// A recorded Capsule payload from `tests/fixtures/capsule/`, for the mapping tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/capsule/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
