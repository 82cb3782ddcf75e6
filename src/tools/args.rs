//! Arguments checked against the tool's input schema before any handler runs: unknown names,
//! missing required ones, JSON types, enums, ranges and lengths. Every refusal names the
//! argument (with its path inside lists and objects) and the JSON type or values expected,
//! never a Rust type. A few forms models and clients commonly send are read leniently: an id
//! as a JSON number (`120`), a whole number written `3.0`, and `null` for an optional argument
//! that cannot be null (the same as leaving it out).

use rmcp::model::JsonObject;
use serde_json::{Map, Value};

use super::ToolError;

/// Longest string accepted in a search or filter argument: it travels in a URL.
const MAX_QUERY_CHARS: usize = 1_000;
/// Longest string accepted in a free-text body (note content, descriptions).
const MAX_TEXT_CHARS: usize = 100_000;
/// Longest string accepted anywhere else.
const MAX_CHARS: usize = 10_000;
/// Most items accepted in one list argument.
const MAX_ITEMS: usize = 1_000;

/// Checks `args` against `schema` and returns them with the lenient forms made canonical.
///
/// With `nulls_clear` (update tools) a top-level `null` for an optional argument
/// is kept, meaning "clear this field", except where the argument is a flag (a boolean).
pub fn check(
    schema: &JsonObject,
    mut args: JsonObject,
    nulls_clear: bool,
) -> Result<JsonObject, ToolError> {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    unknown_names(props, &args, "")?;
    let required = required_names(schema);
    // An optional argument given as null where null means nothing: the same as leaving it out.
    args.retain(|name, value| {
        !(value.is_null()
            && !required.contains(&name.as_str())
            && props.get(name).is_some_and(|p| {
                let clears = nulls_clear && !types(p).contains(&"boolean");
                !allows(p, "null") && !clears
            }))
    });
    for name in &required {
        if args.get(*name).is_none_or(Value::is_null) {
            let prop = props.get(*name);
            let options = prop.and_then(|p| p.get("enum")).and_then(Value::as_array);
            let hint = match options {
                Some(options) => format!(
                    ": one of {}",
                    options
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => prop
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .map(|d| format!(": {}", first_sentence(d)))
                    .unwrap_or_default(),
            };
            return Err(ToolError::invalid(format!(
                "missing required argument `{name}`{hint}"
            )));
        }
    }
    for (name, value) in args.iter_mut() {
        if let Some(prop) = props.get(name) {
            if value.is_null() {
                // Kept above only where null clears.
                continue;
            }
            check_value(name, name, prop, value)?;
        }
    }
    Ok(args)
}

fn unknown_names(props: &JsonObject, args: &JsonObject, at: &str) -> Result<(), ToolError> {
    let unknown: Vec<&String> = args.keys().filter(|k| !props.contains_key(*k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names = |keys: &mut dyn Iterator<Item = &String>| {
        keys.map(|k| format!("`{at}{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ToolError::invalid(format!(
        "unknown argument{} {}; {} takes: {}",
        if unknown.len() > 1 { "s" } else { "" },
        names(&mut unknown.into_iter()),
        if at.is_empty() {
            "this tool".to_owned()
        } else {
            format!("`{}`", at.trim_end_matches('.'))
        },
        props
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn required_names(schema: &JsonObject) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn first_sentence(text: &str) -> &str {
    text.split_once(". ").map_or(text, |(first, _)| first)
}

/// The JSON types a schema allows; empty when it does not say (anything goes).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn allows(schema: &Value, ty: &str) -> bool {
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        return branches.iter().any(|b| allows(b, ty));
    }
    let ts = types(schema);
    ts.is_empty() || ts.contains(&ty) || (ty == "integer" && ts.contains(&"number"))
}

fn is_id_name(name: &str) -> bool {
    name == "id" || name.ends_with("_id") || name.ends_with("_ids") || name.ends_with(".id")
}

fn max_chars(root: &str) -> usize {
    match root {
        "search" | "q" | "query" | "email" | "phone" | "tag" | "since" | "updated_after"
        | "cursor" => MAX_QUERY_CHARS,
        "content" | "description" | "body" | "background" => MAX_TEXT_CHARS,
        _ => MAX_CHARS,
    }
}

/// What a JSON value is, as the error messages say it.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("a string of {} characters", s.chars().count())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn expected(schema: &Value) -> String {
    let names: Vec<&str> = types(schema)
        .into_iter()
        .filter(|t| *t != "null")
        .map(|t| match t {
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            "array" => "a list",
            "object" => "an object",
            other => other,
        })
        .collect();
    if names.is_empty() {
        "a value".into()
    } else {
        names.join(" or ")
    }
}

fn refuse(path: &str, what: String) -> ToolError {
    ToolError::invalid(format!("argument `{path}` {what}"))
}

/// Checks one value; `root` is the top-level argument it sits in (for length limits).
fn check_value(root: &str, path: &str, schema: &Value, value: &mut Value) -> Result<(), ToolError> {
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        if value.is_null() && allows(schema, "null") {
            return Ok(());
        }
        let mut first_err = None;
        for branch in branches.iter().filter(|b| types(b) != ["null"]) {
            let mut candidate = value.clone();
            match check_value(root, path, branch, &mut candidate) {
                Ok(()) => {
                    *value = candidate;
                    return Ok(());
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        return match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    let ts = types(schema);
    let leaf = path.rsplit(['.', '[']).next().unwrap_or(path);
    // An id sent as a JSON number (the Inspector and many models send `120`).
    if let Value::Number(n) = value
        && allows(schema, "string")
        && !allows(schema, "number")
        && !ts.is_empty()
        && (is_id_name(leaf) || is_id_name(root))
    {
        // Negative ids exist (built-in engagement types); the handler checks the range.
        return match n.as_i64().filter(|n| *n != 0) {
            Some(id) => {
                *value = Value::String(id.to_string());
                Ok(())
            }
            None => Err(refuse(
                path,
                format!(
                    "must be a record id: a whole number such as \"11587\"; got {}",
                    describe(value)
                ),
            )),
        };
    }
    // `3.0` for a whole number.
    if let Value::Number(n) = value
        && ts.contains(&"integer")
        && !ts.contains(&"number")
        && !n.is_i64()
        && !n.is_u64()
    {
        match n.as_f64() {
            Some(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                *value = Value::from(f as i64);
            }
            _ => {
                return Err(refuse(
                    path,
                    format!("must be a whole number; got {}", describe(value)),
                ));
            }
        }
    }
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !ts.is_empty() && !allows(schema, actual) {
        return Err(refuse(
            path,
            format!("must be {}; got {}", expected(schema), describe(value)),
        ));
    }
    // An enum value in another case (`work` for `Work`): written as the schema spells it.
    if let (Some(Value::Array(options)), Value::String(given)) = (schema.get("enum"), &*value)
        && !options.contains(value)
        && let Some(canonical) = options.iter().find(|o| {
            o.as_str()
                .is_some_and(|o| o.eq_ignore_ascii_case(given.trim()))
        })
    {
        *value = canonical.clone();
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !value.is_null()
        && !options.contains(value)
    {
        let list: Vec<String> = options
            .iter()
            .filter(|o| !o.is_null())
            .map(|o| o.to_string())
            .collect();
        return Err(refuse(
            path,
            format!(
                "must be one of {}; got {}",
                list.join(", "),
                describe(value)
            ),
        ));
    }
    match value {
        Value::Number(n) => check_range(path, schema, n.as_f64().unwrap_or_default()),
        Value::String(s) => {
            if leaf == "email" && !s.is_empty() && !looks_like_email(s) {
                return Err(refuse(
                    path,
                    format!("must be an email address such as name@example.com; got {s:?}"),
                ));
            }
            let limit = max_chars(root);
            let len = s.chars().count();
            if len > limit {
                return Err(refuse(
                    path,
                    format!("is too long: {len} characters, at most {limit}"),
                ));
            }
            Ok(())
        }
        Value::Array(items) => {
            if items.len() > MAX_ITEMS {
                return Err(refuse(
                    path,
                    format!("has {} items, at most {MAX_ITEMS}", items.len()),
                ));
            }
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Null);
            for (i, item) in items.iter_mut().enumerate() {
                check_value(root, &format!("{path}[{i}]"), &item_schema, item)?;
            }
            Ok(())
        }
        Value::Object(map) => check_object(root, path, schema, map),
        _ => Ok(()),
    }
}

/// One `@` between a local part and a domain with a dot, no spaces: what any address has.
fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn check_range(path: &str, schema: &Value, n: f64) -> Result<(), ToolError> {
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    let out = min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m);
    if !out {
        return Ok(());
    }
    let what = match (min, max) {
        (Some(a), Some(b)) => format!("must be from {a} to {b}"),
        (Some(a), None) => format!("must be at least {a}"),
        (None, Some(b)) => format!("must be at most {b}"),
        (None, None) => String::new(),
    };
    Err(refuse(path, format!("{what}; got {n}")))
}

fn check_object(
    root: &str,
    path: &str,
    schema: &Value,
    map: &mut JsonObject,
) -> Result<(), ToolError> {
    if let Some(Value::Object(props)) = schema.get("properties") {
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            unknown_names(props, map, &format!("{path}."))?;
        }
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if map.get(name).is_none_or(Value::is_null) {
                    return Err(refuse(&format!("{path}.{name}"), "is missing".into()));
                }
            }
        }
        for (name, v) in map.iter_mut() {
            if let Some(prop) = props.get(name) {
                check_value(root, &format!("{path}.{name}"), prop, v)?;
            }
        }
    } else if let Some(values @ Value::Object(_)) = schema.get("additionalProperties") {
        for (name, v) in map.iter_mut() {
            check_value(root, &format!("{path}.{name}"), values, v)?;
        }
    }
    Ok(())
}

/// serde's messages, with Rust's type names replaced by JSON's.
pub fn humanize(message: &str) -> String {
    let mut out = message.to_owned();
    for (rust, json) in [
        ("usize", "a whole number"),
        ("isize", "a whole number"),
        ("u128", "a whole number"),
        ("i128", "a whole number"),
        ("u64", "a whole number"),
        ("i64", "a whole number"),
        ("u32", "a whole number"),
        ("i32", "a whole number"),
        ("u16", "a whole number"),
        ("i16", "a whole number"),
        ("u8", "a whole number"),
        ("i8", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
        ("a boolean", "true or false"),
        ("a sequence", "a list"),
        ("a map", "an object"),
        ("struct ", "an object "),
    ] {
        out = replace_word(&out, rust, json);
    }
    out
}

fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let after = &rest[i + word.len()..];
        let after_ok = after
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_')
            || word.ends_with(' ');
        out.push_str(&rest[..i]);
        out.push_str(if before_ok && after_ok { with } else { word });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> JsonObject {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "description": "Contact id from crm_list_contacts."},
                "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
                "fetch_all": {"type": "boolean"},
                "search": {"type": ["string", "null"]},
                "owner_id": {"type": ["string", "null"]},
                "kind": {"type": "string", "enum": ["Home", "Work"]},
                "emails": {"type": ["array", "null"], "items": {
                    "type": "object", "additionalProperties": false, "required": ["email"],
                    "properties": {"email": {"type": "string"}, "id": {"type": ["string", "null"]}}
                }},
                "custom_fields": {"type": "object", "additionalProperties": {}},
            }
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn err(args: Value) -> String {
        check(&schema(), args.as_object().unwrap().clone(), false)
            .unwrap_err()
            .0
            .message
    }

    fn ok(args: Value) -> Value {
        Value::Object(check(&schema(), args.as_object().unwrap().clone(), false).unwrap())
    }

    #[test]
    fn refusals_name_the_argument_and_the_json_type() {
        assert_eq!(
            err(json!({"id": "1", "limit": "ten"})),
            "argument `limit` must be a whole number; got the string \"ten\""
        );
        assert_eq!(
            err(json!({"id": "1", "limit": 500})),
            "argument `limit` must be from 1 to 100; got 500"
        );
        assert_eq!(
            err(json!({"id": "1", "fetch_all": "yes"})),
            "argument `fetch_all` must be true or false; got the string \"yes\""
        );
        assert_eq!(
            err(json!({"id": "1", "kind": "Office"})),
            "argument `kind` must be one of \"Home\", \"Work\"; got the string \"Office\""
        );
        assert_eq!(
            err(json!({"id": "1", "emails": [{"email": 5}]})),
            "argument `emails[0].email` must be a string; got the number 5"
        );
        assert!(err(json!({"id": "1", "emails": [{"mail": "x"}]})).contains("`emails[0].mail`"));
        assert!(err(json!({"id": "1", "nope": 1})).starts_with("unknown argument `nope`"));
    }

    #[test]
    fn missing_required_arguments_say_what_they_are() {
        assert_eq!(
            err(json!({})),
            "missing required argument `id`: Contact id from crm_list_contacts."
        );
        assert!(err(json!({"id": null})).starts_with("missing required argument `id`"));
    }

    #[test]
    fn ids_arrive_as_numbers_and_bad_ones_are_refused() {
        assert_eq!(ok(json!({"id": 120}))["id"], "120");
        assert_eq!(ok(json!({"id": "1", "owner_id": 7}))["owner_id"], "7");
        assert_eq!(
            ok(json!({"id": "1", "emails": [{"email": "a@b.c", "id": 9}]}))["emails"][0]["id"],
            "9"
        );
        assert_eq!(ok(json!({"id": -3}))["id"], "-3");
        for bad in [json!(1.5), json!(0), json!(1e300)] {
            assert!(
                err(json!({ "id": bad })).contains("must be a record id"),
                "{bad}"
            );
        }
        // A number is not silently turned into a search string.
        assert!(err(json!({"id": "1", "search": 5})).contains("must be a string"));
    }

    #[test]
    fn lenient_forms_are_made_canonical() {
        assert_eq!(ok(json!({"id": "1", "limit": 3.0}))["limit"], 3);
        // null for an optional argument that cannot be null: as if left out.
        assert!(
            ok(json!({"id": "1", "fetch_all": null}))
                .get("fetch_all")
                .is_none()
        );
        // An update tool keeps null (it clears), except for flags.
        let s = schema();
        let kept = check(
            &s,
            json!({"id": "1", "kind": null, "fetch_all": null})
                .as_object()
                .unwrap()
                .clone(),
            true,
        )
        .unwrap();
        assert!(kept["kind"].is_null());
        assert!(!kept.contains_key("fetch_all"));
        let dropped = check(
            &s,
            json!({"id": "1", "kind": null})
                .as_object()
                .unwrap()
                .clone(),
            false,
        )
        .unwrap();
        assert!(!dropped.contains_key("kind"));
        // null where null is allowed is kept (it may mean "clear").
        assert!(ok(json!({"id": "1", "owner_id": null}))["owner_id"].is_null());
        assert_eq!(
            ok(json!({"id": "1", "custom_fields": {"a": [1, {"b": true}]}}))["custom_fields"]["a"]
                [1]["b"],
            true
        );
    }

    #[test]
    fn enums_take_any_case_and_emails_are_checked() {
        assert_eq!(ok(json!({"id": "1", "kind": "work"}))["kind"], "Work");
        assert!(
            err(json!({"id": "1", "emails": [{"email": "not-an-address"}]}))
                .starts_with("argument `emails[0].email` must be an email address")
        );
        assert_eq!(
            ok(json!({"id": "1", "emails": [{"email": "a.b@example.co.uk"}]}))["emails"][0]["email"],
            "a.b@example.co.uk"
        );
    }

    #[test]
    fn long_strings_are_refused_with_their_length() {
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            err(json!({"id": "1", "search": long})),
            format!(
                "argument `search` is too long: {} characters, at most {MAX_QUERY_CHARS}",
                MAX_QUERY_CHARS + 1
            )
        );
    }

    #[test]
    fn serde_messages_speak_json() {
        assert_eq!(
            humanize("invalid type: string \"x\", expected u32"),
            "invalid type: string \"x\", expected a whole number"
        );
        assert_eq!(humanize("expected a boolean"), "expected true or false");
        assert_eq!(humanize("field `u32x`"), "field `u32x`");
    }
}
