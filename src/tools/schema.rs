//! The JSON Schemas a client receives: generated from the argument and result types, then
//! normalised to what every client accepts (the TypeScript SDK validates the shape of each
//! sub-schema; strict validators warn on unknown `format`s; pre-2026 peers drop an output schema
//! whose root is not an object).

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// `format` values every JSON Schema validator knows. Others (`uint32`, `int64`, `double`) are
/// schemars' Rust hints: noise to a model and a warning per value in the TypeScript SDK.
const STANDARD_FORMATS: &[&str] = &[
    "date",
    "date-time",
    "time",
    "duration",
    "email",
    "uri",
    "uri-reference",
    "uuid",
    "hostname",
    "ipv4",
    "ipv6",
];

/// Keys whose value is one schema.
const SCHEMA_KEYS: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
];
/// Keys whose value is a list of schemas.
const SCHEMA_LIST_KEYS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems"];
/// Keys whose value maps names to schemas.
const SCHEMA_MAP_KEYS: &[&str] = &["properties", "$defs", "definitions", "patternProperties"];

fn generator(for_output: bool) -> schemars::SchemaGenerator {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    // Inline nested types: clients and models handle a self-contained schema best.
    settings.inline_subschemas = true;
    if for_output {
        settings = settings.for_serialize();
    } else {
        settings = settings.for_deserialize();
    }
    settings.into_generator()
}

fn to_object(schema: schemars::Schema) -> JsonObject {
    match serde_json::to_value(schema) {
        Ok(Value::Object(map)) => map,
        _ => JsonObject::new(),
    }
}

/// The input schema of `A`: an object whose every property is described, closed to others.
pub fn input_schema<A: JsonSchema>() -> JsonObject {
    let mut schema = to_object(generator(false).into_root_schema_for::<A>());
    normalize_object(&mut schema);
    compact_input(&mut schema);
    // The 2020-12 dialect is the default for tool schemas; some clients reject the keyword.
    schema.remove("$schema");
    schema.remove("title");
    schema.remove("description");
    schema.insert("type".into(), Value::String("object".into()));
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    // The one boolean schema kept: the spec's own form for "no other arguments".
    schema.insert("additionalProperties".into(), Value::Bool(false));
    schema
}

/// The output schema of `O` as the server writes it. Its root is always an object schema, so
/// every protocol version receives it.
pub fn output_schema<O: JsonSchema>() -> JsonObject {
    let mut schema = to_object(generator(true).into_root_schema_for::<O>());
    normalize_object(&mut schema);
    schema.remove("$schema");
    schema.remove("title");
    schema.remove("description");
    // An untagged result (a record, or a dry-run plan) is `anyOf` object schemas: say at the
    // root that it is an object, as protocols before 2026-07-28 require.
    schema.insert("type".into(), Value::String("object".into()));
    schema
}

/// What clients see of an input schema: the same schema without `additionalProperties` (the
/// server refuses unknown names itself, with a message that names them; saying so in every
/// object costs the model tokens on every turn).
pub fn advertise(checked: &JsonObject) -> JsonObject {
    fn open(map: &mut JsonObject) {
        map.remove("additionalProperties");
        for key in SCHEMA_KEYS {
            if let Some(Value::Object(v)) = map.get_mut(*key) {
                open(v);
            }
        }
        for key in SCHEMA_LIST_KEYS {
            if let Some(Value::Array(list)) = map.get_mut(*key) {
                list.iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(open);
            }
        }
        for key in SCHEMA_MAP_KEYS {
            if let Some(Value::Object(props)) = map.get_mut(*key) {
                props
                    .values_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(open);
            }
        }
    }
    let mut schema = checked.clone();
    open(&mut schema);
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props
            .values_mut()
            .filter_map(Value::as_object_mut)
            .for_each(sign_rows);
    }
    schema
}

/// A list of objects (email addresses, addresses, ...) shown as `{key, kind: A|B}` in its
/// description: what a model needs of the rows for a third of the tokens of their schema. The
/// signature is written from the checked schema, so it cannot drift from what is accepted.
fn sign_rows(prop: &mut JsonObject) {
    let Some(Value::Object(items)) = prop.get("items") else {
        return;
    };
    let Some(Value::Object(fields)) = items.get("properties") else {
        return;
    };
    let keys: Vec<String> = fields
        .iter()
        .map(|(name, field)| {
            let mut key = name.clone();
            if let Some(Value::Array(values)) = field.get("enum") {
                let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                key.push_str(": ");
                key.push_str(&values.join("|"));
            }
            if let Some(d) = field.get("description").and_then(Value::as_str) {
                key.push_str(&format!(" ({d})"));
            }
            key
        })
        .collect();
    let signature = format!("{{{}}}", keys.join(", "));
    let description = match prop.get("description").and_then(Value::as_str) {
        Some(d) => format!("{signature}; {d}"),
        None => signature,
    };
    prop.insert("items".into(), serde_json::json!({"type": "object"}));
    prop.insert("description".into(), Value::String(description));
}

/// Makes `properties.<name>` required and, since null then means nothing, not nullable.
pub fn require(schema: &mut JsonObject, names: &[&str]) {
    let mut required: Vec<Value> = schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for name in names {
        if let Some(Value::Object(prop)) =
            schema.get_mut("properties").and_then(|p| p.get_mut(*name))
        {
            strip_null_type(prop);
        } else {
            continue;
        }
        if !required.iter().any(|r| r == *name) {
            required.push(Value::String((*name).to_owned()));
        }
    }
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
}

/// Removes `names` from the properties of the sub-schema at `path` (each step a property
/// name, `items` entered on the way when the property is an array).
pub fn remove_properties(schema: &mut JsonObject, path: &[&str], names: &[&str]) {
    let mut at = schema;
    for step in path {
        let Some(Value::Object(next)) = at.get_mut("properties").and_then(|p| p.get_mut(*step))
        else {
            return;
        };
        at = next;
        if at.contains_key("items") {
            let Some(Value::Object(items)) = at.get_mut("items") else {
                return;
            };
            at = items;
        }
    }
    if let Some(Value::Object(props)) = at.get_mut("properties") {
        for n in names {
            props.shift_remove(*n);
        }
    }
}

/// `["string", "null"]` → `"string"`, and no `null` among the `enum` values.
fn strip_null_type(prop: &mut JsonObject) {
    if let Some(Value::Array(options)) = prop.get_mut("enum") {
        options.retain(|o| !o.is_null());
    }
    if let Some(Value::Array(types)) = prop.get("type") {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let value = match kept.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(kept),
        };
        prop.insert("type".into(), value);
    }
}

/// What a model pays for on every turn, cut to what it needs: plain types (`null` is "left
/// out" unless a tool says null clears, see `ToolSpec::nulls_clear`), no `default`s (the
/// descriptions say them where they matter), no `minimum: 0` of unsigned Rust integers.
fn compact_input(map: &mut JsonObject) {
    strip_null_type(map);
    // `anyOf: [X, {type: null}]` (an optional enum or struct) is X.
    if let Some(Value::Array(branches)) = map.get_mut("anyOf") {
        branches.retain(|b| b.get("type") != Some(&Value::String("null".into())));
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            map.remove("anyOf");
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
    map.remove("default");
    if map.get("minimum").and_then(Value::as_f64) == Some(0.0) {
        map.remove("minimum");
    }
    for key in SCHEMA_KEYS {
        if let Some(Value::Object(v)) = map.get_mut(*key) {
            compact_input(v);
        }
    }
    for key in SCHEMA_LIST_KEYS {
        if let Some(Value::Array(list)) = map.get_mut(*key) {
            for v in list.iter_mut() {
                if let Value::Object(v) = v {
                    compact_input(v);
                }
            }
        }
    }
    for key in SCHEMA_MAP_KEYS {
        if let Some(Value::Object(props)) = map.get_mut(*key) {
            for v in props.values_mut() {
                if let Value::Object(v) = v {
                    compact_input(v);
                }
            }
        }
    }
}

/// Normalises every sub-schema in place (see [`normalize_object`]).
fn normalize(value: &mut Value) {
    match value {
        // `true` as a sub-schema: "anything". Some clients require an object: `{}` says the same.
        Value::Bool(true) => *value = Value::Object(Map::new()),
        Value::Object(map) => normalize_object(map),
        _ => {}
    }
}

/// Drops non-standard `format`s, `"default": null`, `additionalProperties: true` and the
/// description of an array's items (the array is described already); turns boolean
/// sub-schemas into objects.
fn normalize_object(map: &mut JsonObject) {
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
    {
        map.remove("format");
    }
    if map.get("default").is_some_and(Value::is_null) {
        map.remove("default");
    }
    if map.get("additionalProperties") == Some(&Value::Bool(true)) {
        map.remove("additionalProperties");
    }
    if map.contains_key("description")
        && let Some(Value::Object(items)) = map.get_mut("items")
    {
        items.remove("description");
    }
    for key in SCHEMA_KEYS {
        if let Some(v) = map.get_mut(*key) {
            normalize(v);
        }
    }
    for key in SCHEMA_LIST_KEYS {
        if let Some(Value::Array(list)) = map.get_mut(*key) {
            list.iter_mut().for_each(normalize);
        }
    }
    for key in SCHEMA_MAP_KEYS {
        if let Some(Value::Object(props)) = map.get_mut(*key) {
            props.values_mut().for_each(normalize);
        }
    }
}

/// Every place in `schema` where a schema object is expected but something else stands
/// (a boolean, a number), as JSON-pointer-like paths. `additionalProperties: false` ("no other
/// keys", the spec's own form) is allowed.
pub fn non_object_subschemas(schema: &JsonObject) -> Vec<String> {
    fn walk(value: &Value, path: String, out: &mut Vec<String>) {
        let Value::Object(map) = value else {
            out.push(path);
            return;
        };
        for key in SCHEMA_KEYS {
            if let Some(v) = map.get(*key) {
                let closed = *key == "additionalProperties" && v == false;
                if !closed {
                    walk(v, format!("{path}/{key}"), out);
                }
            }
        }
        for key in SCHEMA_LIST_KEYS {
            if let Some(Value::Array(list)) = map.get(*key) {
                for (i, v) in list.iter().enumerate() {
                    walk(v, format!("{path}/{key}/{i}"), out);
                }
            }
        }
        for key in SCHEMA_MAP_KEYS {
            if let Some(Value::Object(props)) = map.get(*key) {
                for (name, v) in props {
                    walk(v, format!("{path}/{key}/{name}"), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&Value::Object(schema.clone()), String::new(), &mut out);
    out
}

/// Every non-standard `format` value in `schema`.
pub fn non_standard_formats(schema: &JsonObject) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(f) = map.get("format").and_then(Value::as_str)
                    && !STANDARD_FORMATS.contains(&f)
                {
                    out.push(f.to_owned());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&Value::Object(schema.clone()), &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(schemars::JsonSchema, serde::Serialize, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        /// Anything.
        body: Value,
        /// A count.
        n: Option<u32>,
        tags: Vec<Value>,
    }

    #[test]
    fn boolean_subschemas_and_rust_formats_are_gone() {
        for schema in [input_schema::<Sample>(), output_schema::<Sample>()] {
            assert_eq!(non_object_subschemas(&schema), Vec::<String>::new());
            assert_eq!(non_standard_formats(&schema), Vec::<String>::new());
            assert_eq!(schema["type"], "object");
        }
        let input = input_schema::<Sample>();
        assert_eq!(
            input["properties"]["body"],
            json!({"description": "Anything."})
        );
        assert_eq!(
            input["properties"]["n"],
            json!({"description": "A count.", "type": "integer"})
        );
    }

    #[test]
    fn rows_are_shown_by_their_keys_and_still_checked_whole() {
        let checked = json!({"type": "object", "additionalProperties": false, "properties": {
            "emails": {"type": "array", "description": "Added.", "items": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "email": {"type": "string"},
                    "type": {"type": "string", "enum": ["Home", "Work"]},
                    "country": {"type": "string", "description": "English name"}
                }
            }},
            "tags": {"type": "array", "items": {"type": "string"}}
        }});
        let shown = advertise(checked.as_object().unwrap());
        assert_eq!(
            shown["properties"]["emails"],
            json!({"type": "array", "items": {"type": "object"},
                   "description": "{email, type: Home|Work, country (English name)}; Added."})
        );
        assert_eq!(shown["properties"]["tags"], checked["properties"]["tags"]);
        assert!(!shown.contains_key("additionalProperties"));
    }

    #[test]
    fn require_adds_names_and_drops_null() {
        let mut s = input_schema::<Sample>();
        require(&mut s, &["n"]);
        assert!(s["required"].as_array().unwrap().contains(&json!("n")));
        assert_eq!(s["properties"]["n"]["type"], "integer");
    }

    #[test]
    fn the_checks_find_what_they_look_for() {
        let bad = json!({"type":"object","properties":{"a":true,"b":{"type":"integer","format":"uint32"}}});
        let bad = bad.as_object().unwrap();
        assert_eq!(non_object_subschemas(bad), vec!["/properties/a"]);
        assert_eq!(non_standard_formats(bad), vec!["uint32"]);
    }
}
