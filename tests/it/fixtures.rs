//! Every recorded Capsule payload in `tests/fixtures/capsule/` decodes with its wire type, and
//! re-serializing it loses no field. `index.json` says which type and envelope key each file
//! holds; a file missing from the index fails the test too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use capsule_mcp::capsule::wire::{self, *};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexEntry {
    file: String,
    /// The envelope key (`parties`, `party`, ...); `null` for error bodies.
    key: Option<String>,
    /// `list`, `single` or `error`.
    kind: String,
    #[serde(rename = "type")]
    type_name: String,
    source: String,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/capsule")
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

fn read_index() -> Vec<IndexEntry> {
    let value = read_json(&fixture_dir().join("index.json")).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_value(value).unwrap_or_else(|e| panic!("index.json: {e}"))
}

#[test]
fn every_fixture_decodes_without_losing_a_field() {
    let index = read_index();
    assert!(!index.is_empty(), "index.json lists no fixture");

    let mut failures = Vec::new();
    for entry in &index {
        if entry.source.trim().is_empty() {
            failures.push(format!("{}: index entry has no source", entry.file));
        }
        let result =
            read_json(&fixture_dir().join(&entry.file)).and_then(|body| check_entry(entry, &body));
        if let Err(e) = result {
            failures.push(format!(
                "{} ({} {} {}): {e}",
                entry.file,
                entry.kind,
                entry.key.as_deref().unwrap_or("-"),
                entry.type_name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture entries failed:\n  {}",
        failures.len(),
        index.len(),
        failures.join("\n  ")
    );
}

/// Every top-level key of every fixture is claimed by an index entry, so no part of a recorded
/// body (e.g. `restrictedParties` next to `parties`) goes unchecked.
#[test]
fn every_top_level_key_is_checked() {
    let index = read_index();
    let files: BTreeSet<&str> = index.iter().map(|e| e.file.as_str()).collect();
    let mut unclaimed = Vec::new();
    for file in files {
        let entries: Vec<&IndexEntry> = index.iter().filter(|e| e.file == file).collect();
        if entries.iter().any(|e| e.kind == "error") {
            continue; // an error body is decoded whole
        }
        let body = read_json(&fixture_dir().join(file)).unwrap_or_else(|e| panic!("{e}"));
        let Some(object) = body.as_object() else {
            unclaimed.push(format!("{file}: body is not an object"));
            continue;
        };
        for key in object.keys() {
            if !entries
                .iter()
                .any(|e| e.key.as_deref() == Some(key.as_str()))
            {
                unclaimed.push(format!("{file}: top-level key `{key}`"));
            }
        }
    }
    assert!(
        unclaimed.is_empty(),
        "not covered by index.json:\n  {}",
        unclaimed.join("\n  ")
    );
}

#[test]
fn index_lists_every_fixture_file() {
    let listed: BTreeSet<String> = read_index().into_iter().map(|e| e.file).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .unwrap_or_else(|e| panic!("cannot list fixtures: {e}"))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot list fixtures: {e}"))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "index.json")
        .collect();
    let orphans: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        orphans.is_empty(),
        "fixtures missing from index.json: {orphans:?}"
    );
    assert!(
        missing.is_empty(),
        "index.json lists absent files: {missing:?}"
    );
}

fn check_entry(entry: &IndexEntry, body: &Value) -> Result<(), String> {
    match entry.type_name.as_str() {
        "ApiErrorBody" => check::<ApiErrorBody>(entry, body),
        "Party" => check::<Party>(entry, body),
        "DeletedRecord" => check::<DeletedRecord>(entry, body),
        "RestrictedRecord" => check::<RestrictedRecord>(entry, body),
        "Opportunity" => check::<Opportunity>(entry, body),
        "Kase" => check::<Kase>(entry, body),
        "Task" => check::<Task>(entry, body),
        "Entry" => check::<Entry>(entry, body),
        "User" => check::<User>(entry, body),
        "Team" => check::<Team>(entry, body),
        "Pipeline" => check::<Pipeline>(entry, body),
        "Milestone" => check::<Milestone>(entry, body),
        "LostReason" => check::<LostReason>(entry, body),
        "Board" => check::<Board>(entry, body),
        "Stage" => check::<Stage>(entry, body),
        "ActivityType" => check::<ActivityType>(entry, body),
        "TaskCategory" => check::<TaskCategory>(entry, body),
        "FieldDefinition" => check::<FieldDefinition>(entry, body),
        "Tag" => check::<Tag>(entry, body),
        "PersonTitle" => check::<PersonTitle>(entry, body),
        "Country" => check::<Country>(entry, body),
        "Currency" => check::<Currency>(entry, body),
        "Site" => check::<Site>(entry, body),
        "Job" => check::<Job>(entry, body),
        other => Err(format!(
            "unknown wire type `{other}`: add it to check_entry"
        )),
    }
}

fn check<T: DeserializeOwned + Serialize>(entry: &IndexEntry, body: &Value) -> Result<(), String> {
    let key = || {
        entry
            .key
            .as_deref()
            .ok_or_else(|| format!("a `{}` entry needs a key", entry.kind))
    };
    let mut lost = Vec::new();
    match entry.kind.as_str() {
        "list" => {
            let key = key()?;
            let items: Vec<T> = wire::unwrap_list(body, key).map_err(|e| e.to_string())?;
            let originals = body[key].as_array().map(Vec::as_slice).unwrap_or_default();
            if items.len() != originals.len() {
                return Err(format!(
                    "decoded {} items from {} records",
                    items.len(),
                    originals.len()
                ));
            }
            for (i, (item, original)) in items.iter().zip(originals).enumerate() {
                let again = to_value(item)?;
                compare(original, &again, &format!("{key}[{i}]"), &mut lost);
            }
        }
        "single" => {
            let key = key()?;
            let item: T = wire::unwrap_single(body, key).map_err(|e| e.to_string())?;
            compare(&body[key], &to_value(&item)?, key, &mut lost);
        }
        "error" => {
            if entry.type_name != "ApiErrorBody" {
                return Err("an `error` entry must have type ApiErrorBody".to_owned());
            }
            let item: T = wire::decode(body).map_err(|e| e.to_string())?;
            compare(body, &to_value(&item)?, "", &mut lost);
        }
        other => return Err(format!("unknown kind `{other}`")),
    }
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!("lost on re-serialization: {}", lost.join(", ")))
    }
}

fn to_value<T: Serialize>(item: &T) -> Result<Value, String> {
    serde_json::to_value(item).map_err(|e| format!("cannot re-serialize: {e}"))
}

/// Records in `lost` every path whose non-null value in `original` is missing or different in
/// `again`. A `null` may be dropped: optional fields skip `None` when serializing. Numbers
/// compare as f64 (`500` comes back as `500.0`).
fn compare(original: &Value, again: &Value, path: &str, lost: &mut Vec<String>) {
    let here = |p: &str| {
        if p.is_empty() {
            ".".to_owned()
        } else {
            p.to_owned()
        }
    };
    match (original, again) {
        (Value::Null, _) => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(w) => compare(v, w, &child, lost),
                    None if v.is_null() => {}
                    None => lost.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                lost.push(format!("{} (length {} → {})", here(path), a.len(), b.len()));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                compare(v, w, &format!("{path}[{i}]"), lost);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => lost.push(format!("{} ({a} → {b})", here(path))),
    }
}

#[test]
fn compare_reports_lost_keys_and_changed_values() {
    let original = serde_json::json!({"a": 1, "b": null, "c": {"d": [1, {"e": "x"}]}, "f": "y"});
    let mut lost = Vec::new();
    compare(
        &original,
        &serde_json::json!({"a": 1.0, "c": {"d": [1, {}]}, "f": "z"}),
        "",
        &mut lost,
    );
    assert_eq!(lost, ["c.d[1].e", "f (\"y\" → \"z\")"]);
}
