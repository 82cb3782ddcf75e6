//! Custom fields: Capsule's `fields[]` rows ⇄ the unified `custom_fields` object keyed by name.

use serde_json::{Map, Number, Value, json};

use crate::capsule::wire::{FieldDefinition, FieldValue};
use crate::unified::CustomFields;

/// Unified type name of a Capsule field type.
pub fn unified_type(capsule: &str) -> &'static str {
    match capsule.to_ascii_lowercase().as_str() {
        "text" => "string",
        "large_text" | "largetext" => "text",
        "number" => "number",
        "date" => "date",
        "boolean" => "boolean",
        "list" => "enum",
        "link" => "url",
        _ => "string",
    }
}

fn def_type(def: &FieldDefinition) -> String {
    def.field_type
        .as_deref()
        .unwrap_or("text")
        .to_ascii_lowercase()
}

/// Reads a record's field values into `{ name: value }`; number values, which Capsule sends
/// back as strings, become numbers.
pub fn read(values: &[FieldValue], defs: &[FieldDefinition]) -> CustomFields {
    let mut out = CustomFields::new();
    for fv in values {
        let def_id = fv.definition.as_ref().and_then(|d| d.id);
        let def = def_id.and_then(|id| defs.iter().find(|d| d.id == Some(id)));
        let name = fv
            .definition
            .as_ref()
            .and_then(|d| d.name.clone())
            .or_else(|| def.and_then(|d| d.name.clone()));
        let Some(name) = name else { continue };
        let value = match def.map(def_type).as_deref() {
            Some("number") => number_from(&fv.value).unwrap_or_else(|| fv.value.clone()),
            _ => fv.value.clone(),
        };
        out.insert(name, value);
    }
    out
}

fn number_from(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(v.clone()),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                return Some(Value::Number(i.into()));
            }
            s.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        }
        _ => None,
    }
}

/// Turns `{ name-or-id: value }` into Capsule `fields[]` rows, checking each value against its
/// definition. `applies` picks the definitions that belong to the record kind.
pub fn write(
    input: &Map<String, Value>,
    defs: &[FieldDefinition],
    applies: impl Fn(&FieldDefinition) -> bool,
) -> Result<Vec<Value>, String> {
    let usable: Vec<&FieldDefinition> = defs.iter().filter(|d| applies(d)).collect();
    let mut rows = Vec::new();
    for (key, value) in input {
        let def = find(&usable, key);
        let Some(def) = def else {
            let names: Vec<&str> = usable.iter().filter_map(|d| d.name.as_deref()).collect();
            return Err(format!(
                "no custom field `{key}` here; valid names: {}",
                if names.is_empty() {
                    "(none defined)".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        };
        let Some(id) = def.id else { continue };
        let name = def.name.clone().unwrap_or_else(|| key.clone());
        let wire_value = convert(&name, def, value)?;
        rows.push(json!({ "definition": { "id": id }, "value": wire_value }));
    }
    Ok(rows)
}

/// The definition a `custom_fields` key names: its exact name, its name in another case, or
/// its id.
fn find<'a>(usable: &[&'a FieldDefinition], key: &str) -> Option<&'a FieldDefinition> {
    usable
        .iter()
        .find(|d| d.name.as_deref() == Some(key))
        .or_else(|| {
            usable.iter().find(|d| {
                d.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(key))
            })
        })
        .or_else(|| {
            key.parse::<i64>()
                .ok()
                .and_then(|id| usable.iter().find(|d| d.id == Some(id)))
        })
        .copied()
}

/// Whether some key of `input` names no definition that applies (the definitions may be
/// stale).
pub fn any_unknown(
    input: &Map<String, Value>,
    defs: &[FieldDefinition],
    applies: impl Fn(&FieldDefinition) -> bool,
) -> bool {
    let usable: Vec<&FieldDefinition> = defs.iter().filter(|d| applies(d)).collect();
    input.keys().any(|k| find(&usable, k).is_none())
}

fn convert(name: &str, def: &FieldDefinition, value: &Value) -> Result<Value, String> {
    let kind = def_type(def);
    let bad = |want: &str| format!("custom field `{name}` takes {want}; got {value}");
    match (kind.as_str(), value) {
        // Capsule refuses null for a boolean: false is how it is cleared.
        ("boolean", Value::Null) => Ok(Value::Bool(false)),
        (_, Value::Null) => Ok(Value::Null),
        ("boolean", Value::Bool(_)) => Ok(value.clone()),
        ("boolean", _) => Err(bad("true or false")),
        ("number", v) => number_from(v).ok_or_else(|| bad("a number")),
        ("date", Value::String(s)) => {
            if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
                Ok(value.clone())
            } else {
                Err(bad("a date as YYYY-MM-DD"))
            }
        }
        ("date", _) => Err(bad("a date as YYYY-MM-DD")),
        // An option in any case is sent as Capsule spells it; Capsule stores other text too
        // (a recorded live project holds a value outside its options), so it goes as given.
        ("list", Value::String(s)) => Ok(def
            .options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(s))
            .map_or_else(|| value.clone(), |o| Value::String(o.clone()))),
        (_, Value::String(_)) => Ok(value.clone()),
        (_, Value::Number(n)) => Ok(Value::String(n.to_string())),
        _ => Err(bad("a string")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::capsule::wire;

    fn defs() -> Vec<FieldDefinition> {
        let v = json!([
            {"id": 45, "type": "text", "name": "Refering Site"},
            {"id": 51, "type": "number", "name": "Lead Score"},
            {"id": 46, "type": "date", "name": "Date of Birth", "captureRule": "person"},
            {"id": 47, "type": "list", "name": "Industry Sector", "captureRule": "organisation",
             "options": ["Technology", "Insurance"]},
            {"id": 48, "type": "boolean", "name": "Local"}
        ]);
        wire::decode(&v).unwrap()
    }

    #[test]
    fn reads_numbers_back_as_numbers() {
        let values: Vec<FieldValue> = wire::decode(&json!([
            {"id": 1, "definition": {"id": 51, "name": "Lead Score"}, "value": "3"},
            {"id": 2, "definition": {"id": 48, "name": "Local"}, "value": true},
            {"id": 3, "definition": {"id": 45, "name": "Refering Site"}, "value": "x.com"}
        ]))
        .unwrap();
        let out = read(&values, &defs());
        assert_eq!(out["Lead Score"], json!(3));
        assert_eq!(out["Local"], json!(true));
        assert_eq!(out["Refering Site"], json!("x.com"));
    }

    #[test]
    fn writes_by_name_or_id_and_checks_values() {
        let d = defs();
        let all = |_: &FieldDefinition| true;
        let input = json!({"Lead Score": "7", "48": null, "industry sector": "technology"});
        let rows = write(input.as_object().unwrap(), &d, all).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.contains(&json!({"definition": {"id": 51}, "value": 7})));
        assert!(rows.contains(&json!({"definition": {"id": 48}, "value": false})));
        assert!(rows.contains(&json!({"definition": {"id": 47}, "value": "Technology"})));

        let err = write(json!({"Nope": 1}).as_object().unwrap(), &d, all).unwrap_err();
        assert!(
            err.contains("valid names") && err.contains("Lead Score"),
            "{err}"
        );
        assert!(
            write(
                json!({"Date of Birth": "31/01/2020"}).as_object().unwrap(),
                &d,
                all
            )
            .is_err()
        );
        assert!(write(json!({"Local": "yes"}).as_object().unwrap(), &d, all).is_err());
        // Outside the options: Capsule stores it, so it is sent as given.
        assert_eq!(
            write(
                json!({"Industry Sector": "Farming"}).as_object().unwrap(),
                &d,
                all
            )
            .unwrap(),
            vec![json!({"definition": {"id": 47}, "value": "Farming"})]
        );
        let persons_only = |f: &FieldDefinition| f.capture_rule.as_deref() != Some("organisation");
        assert!(
            write(
                json!({"Industry Sector": "Insurance"}).as_object().unwrap(),
                &d,
                persons_only
            )
            .is_err()
        );
    }
}
