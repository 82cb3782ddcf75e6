//! Lenient serde types for Capsule's wire format.
//!
//! Capsule leaves fields out, sends explicit `null`s and adds undocumented keys, so every field
//! here is optional (`Option<T>` + `#[serde(default)]`), lists accept `null` as empty, and
//! unknown keys are kept in each struct's `extra` map so nothing is lost on a round trip.
//! Timestamps and dates stay strings: parsing belongs to the mapping layer, not to decoding.
//! When decoding does fail, [`DecodeError`] names the JSON path (`parties[1].id`).

mod common;
mod entry;
mod kase;
mod opportunity;
mod party;
mod pipeline;
#[cfg(test)]
mod props;
mod reference;
mod task;
mod user;

pub use common::*;
pub use entry::*;
pub use kase::*;
pub use opportunity::*;
pub use party::*;
pub use pipeline::*;
pub use reference::*;
pub use task::*;
pub use user::*;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A Capsule body that does not fit its wire type.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode Capsule {what} at `{path}`: {message}")]
pub struct DecodeError {
    /// The wire type or envelope key being decoded, e.g. `Party` or `parties`.
    pub what: String,
    /// The JSON path of the failure, e.g. `parties[1].id`; `.` is the value itself.
    pub path: String,
    /// serde's description of what went wrong.
    pub message: String,
}

/// Decode a JSON value as T; the error names the JSON path of the failure.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, DecodeError> {
    decode_at(value, short_type_name::<T>(), None)
}

/// Take `body[key]` (e.g. "party" or "parties") and decode it; a missing key is a DecodeError
/// naming the key.
pub fn unwrap_single<T: DeserializeOwned>(body: &Value, key: &str) -> Result<T, DecodeError> {
    decode_at(envelope(body, key)?, key.to_owned(), Some(key))
}

/// Take the list `body[key]` (e.g. "parties") and decode it; a missing key is a DecodeError
/// naming the key, and `null` is an empty list.
pub fn unwrap_list<T: DeserializeOwned>(body: &Value, key: &str) -> Result<Vec<T>, DecodeError> {
    match envelope(body, key)? {
        Value::Null => Ok(Vec::new()),
        list => decode_at(list, key.to_owned(), Some(key)),
    }
}

fn envelope<'a>(body: &'a Value, key: &str) -> Result<&'a Value, DecodeError> {
    body.get(key).ok_or_else(|| DecodeError {
        what: key.to_owned(),
        path: key.to_owned(),
        message: match body {
            Value::Object(map) => {
                let keys = map.keys().map(String::as_str).collect::<Vec<_>>();
                format!(
                    "the body has no `{key}` key (keys present: [{}])",
                    keys.join(", ")
                )
            }
            other => format!(
                "expected an object with a `{key}` key, found {}",
                json_kind(other)
            ),
        },
    })
}

fn decode_at<T: DeserializeOwned>(
    value: &Value,
    what: String,
    prefix: Option<&str>,
) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let path = match prefix {
            None => inner,
            Some(key) if inner == "." => key.to_owned(),
            Some(key) if inner.starts_with('[') => format!("{key}{inner}"),
            Some(key) => format!("{key}.{inner}"),
        };
        DecodeError {
            what,
            path,
            message: err.into_inner().to_string(),
        }
    })
}

/// `capsule_mcp::capsule::wire::Party` → `Party`; generic names are kept whole.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    if full.contains('<') {
        full.to_owned()
    } else {
        full.rsplit("::").next().unwrap_or(full).to_owned()
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unwrap_list_error_names_the_full_path() {
        let body = json!({"parties": [{"id": 1}, {"id": "abc"}]});
        let err = unwrap_list::<Party>(&body, "parties").unwrap_err();
        assert_eq!(err.what, "parties");
        assert_eq!(err.path, "parties[1].id");
        assert!(err.message.contains("invalid value"), "{}", err.message);
        assert!(
            err.to_string()
                .starts_with("cannot decode Capsule parties at `parties[1].id`: "),
            "{err}"
        );
    }

    #[test]
    fn unwrap_single_error_names_nested_path() {
        let body = json!({"party": {"id": 1, "owner": {"id": "x"}}});
        let err = unwrap_single::<Party>(&body, "party").unwrap_err();
        assert_eq!(err.path, "party.owner.id");
    }

    #[test]
    fn missing_key_is_an_error_naming_the_key() {
        let err = unwrap_single::<Party>(&json!({"kase": {}}), "party").unwrap_err();
        assert_eq!(err.what, "party");
        assert_eq!(err.path, "party");
        assert!(err.message.contains("`party`"), "{}", err.message);
        assert!(err.message.contains("kase"), "{}", err.message);

        let err = unwrap_list::<Party>(&json!([1]), "parties").unwrap_err();
        assert!(err.message.contains("an array"), "{}", err.message);
    }

    #[test]
    fn wrong_envelope_type_names_the_key() {
        let err = unwrap_list::<Party>(&json!({"parties": {"id": 1}}), "parties").unwrap_err();
        assert_eq!(err.path, "parties");
    }

    #[test]
    fn null_list_envelope_is_empty() {
        let list = unwrap_list::<Party>(&json!({"parties": null}), "parties").unwrap();
        assert!(list.is_empty());
    }

    #[test]
    fn decode_names_the_type() {
        let err = decode::<Party>(&json!({"id": true})).unwrap_err();
        assert_eq!(err.what, "Party");
        assert_eq!(err.path, "id");
        let err = decode::<Party>(&json!([])).unwrap_err();
        assert_eq!(err.path, ".");
    }
}
