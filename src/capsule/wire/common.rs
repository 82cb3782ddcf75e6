//! Shapes shared by several Capsule entities: nested short forms, money, custom field values,
//! embedded tags and the error body.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::PartyType;

/// Deserialize a list that Capsule may send as `null` (or leave out, with `#[serde(default)]`)
/// as an empty `Vec`.
pub fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A number on the wire: what [`number`] accepts it as.
pub trait WireNumber: Sized {
    /// `an integer` or `a number`, for the error message.
    const WHAT: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
    fn parse(s: &str) -> Option<Self>;
}

impl WireNumber for i64 {
    const WHAT: &'static str = "an integer";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    fn from_f64(v: f64) -> Option<Self> {
        // 76542.0 is an integer; 1.5 and 1e300 are not.
        (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
    }
    fn parse(s: &str) -> Option<Self> {
        s.parse::<i64>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(Self::from_f64))
    }
}

impl WireNumber for f64 {
    const WHAT: &'static str = "a number";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        v.is_finite().then_some(v)
    }
    fn parse(s: &str) -> Option<Self> {
        s.parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

/// Deserialize an optional numeric field that Capsule may send as a number or as a string
/// holding one (the documented entry example has `"size": "76542"`). `null` (or a missing
/// field, with `#[serde(default)]`) is `None`; anything else is an error at the field's path.
/// The one helper every numeric wire field uses.
pub fn number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: WireNumber,
{
    struct Visit<T>(std::marker::PhantomData<T>);

    impl<T: WireNumber> Visit<T> {
        fn bad<E: serde::de::Error>(&self, what: serde::de::Unexpected<'_>) -> E {
            E::invalid_value(what, self)
        }
    }

    impl<'de, T: WireNumber> serde::de::Visitor<'de> for Visit<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}, a string holding one, or null", T::WHAT)
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            T::from_i64(v)
                .map(Some)
                .ok_or_else(|| self.bad(serde::de::Unexpected::Signed(v)))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            T::from_u64(v)
                .map(Some)
                .ok_or_else(|| self.bad(serde::de::Unexpected::Unsigned(v)))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            T::from_f64(v)
                .map(Some)
                .ok_or_else(|| self.bad(serde::de::Unexpected::Float(v)))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            T::parse(v.trim())
                .map(Some)
                .ok_or_else(|| self.bad(serde::de::Unexpected::Str(v)))
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    deserializer.deserialize_any(Visit(std::marker::PhantomData))
}

/// `skip_serializing_if` helper for `serde_json::Value` fields that default to `Null`.
pub fn is_null(value: &Value) -> bool {
    value.is_null()
}

/// A `{id, name}` reference: milestone, stage, lost reason, team, pipeline, board, activity
/// type, definition, and the short forms of opportunity and kase.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NestedRef {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The short form of a user nested in another record (`owner`, `creator`, team members).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NestedUser {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        rename = "pictureURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The short form of a party nested in another record (`party`, `organisation`, `parties[]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NestedParty {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub party_type: Option<PartyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        rename = "pictureURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NestedParty {
    /// The organisation's name, or the person's "first last"; `None` when nothing is known.
    pub fn display_name(&self) -> Option<String> {
        display_name(
            self.name.as_deref(),
            self.first_name.as_deref(),
            self.last_name.as_deref(),
        )
    }
}

/// Shared by [`NestedParty`] and [`super::Party`]: a non-blank `name` wins, else the non-blank
/// parts of "first last".
pub(crate) fn display_name(
    name: Option<&str>,
    first_name: Option<&str>,
    last_name: Option<&str>,
) -> Option<String> {
    if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let joined = [first_name, last_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

/// An opportunity's `value`: a JSON number (may have decimals) and an ISO 4217 currency.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A custom field value on a record (`embed=fields`). `value`'s JSON type depends on the
/// definition's type (numbers come back as strings), so it stays a `Value`. A `null` value is
/// serialized because on a write it clears the field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldValue {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<NestedRef>,
    #[serde(default)]
    pub value: Value,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub tag_id: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tag embedded in a record (`embed=tags`) or referenced by a field definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TagRef {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_tag: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Capsule's error body. Most errors use `message`; the 429 body uses `error`; a 422 adds
/// `errors[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of a 422 body's `errors[]`. `field` may be dotted (`address.country`) or missing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::decode;
    use serde_json::json;

    #[test]
    fn nested_party_display_name_prefers_org_name_then_first_last() {
        let org: NestedParty = decode(&json!({"id": 254633973, "type": "organisation", "name": "Capsule", "pictureURL": "https://x"})).unwrap();
        assert_eq!(org.party_type, Some(PartyType::Organisation));
        assert_eq!(org.picture_url.as_deref(), Some("https://x"));
        assert_eq!(org.display_name().as_deref(), Some("Capsule"));

        let person: NestedParty = decode(
            &json!({"id": 277242033, "type": "person", "firstName": "Maia", "lastName": "Hilton"}),
        )
        .unwrap();
        assert_eq!(person.display_name().as_deref(), Some("Maia Hilton"));

        let last_only: NestedParty =
            decode(&json!({"type": "person", "firstName": null, "lastName": "Private"})).unwrap();
        assert_eq!(last_only.display_name().as_deref(), Some("Private"));

        let empty: NestedParty = decode(&json!({"id": 1})).unwrap();
        assert_eq!(empty.display_name(), None);
    }

    #[test]
    fn nested_party_tolerates_an_unknown_party_type() {
        let p: NestedParty = decode(&json!({"id": 1, "type": "robot"})).unwrap();
        assert_eq!(p.party_type, Some(PartyType::Unknown));
    }

    #[test]
    fn error_body_accepts_message_and_error_keys() {
        let v: ApiErrorBody = decode(&json!({
            "message": "Validation Failed",
            "errors": [ { "message": "dueOn is required", "resource": "task", "field": "dueOn" } ]
        }))
        .unwrap();
        assert_eq!(v.message.as_deref(), Some("Validation Failed"));
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.errors[0].field.as_deref(), Some("dueOn"));
        assert_eq!(v.errors[0].resource.as_deref(), Some("task"));

        let rate: ApiErrorBody = decode(&json!({ "error": "rate limit reached" })).unwrap();
        assert_eq!(rate.error.as_deref(), Some("rate limit reached"));
        assert!(rate.message.is_none());
        assert!(rate.errors.is_empty());

        let null_errors: ApiErrorBody =
            decode(&json!({ "message": "x", "errors": null, "code": 7 })).unwrap();
        assert!(null_errors.errors.is_empty());
        assert_eq!(null_errors.extra.get("code"), Some(&json!(7)));
    }

    #[test]
    fn field_value_keeps_any_json_value_and_serializes_null() {
        let v: FieldValue = decode(&json!({"id": 9785121, "definition": {"id": 926886, "name": "Interests"}, "value": "Skiing", "tagId": 168298})).unwrap();
        assert_eq!(v.value, json!("Skiing"));
        assert_eq!(v.tag_id, Some(168298));
        assert_eq!(v.definition.as_ref().and_then(|d| d.id), Some(926886));

        let clear = FieldValue {
            definition: Some(NestedRef {
                id: Some(46),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&clear).unwrap(),
            json!({"definition": {"id": 46}, "value": null})
        );
    }

    #[test]
    fn numbers_may_come_as_strings_and_anything_else_names_the_path() {
        // The documented "Show entry" example sends an attachment's size as a string.
        let e: crate::capsule::wire::Entry = decode(&json!({"id": "12", "attachments": [
            {"id": 4, "filename": "a.pdf", "size": "76542"},
            {"id": "5", "size": 1.0e3}
        ]}))
        .unwrap();
        assert_eq!(e.id, Some(12));
        assert_eq!(e.attachments[0].size, Some(76542));
        assert_eq!(e.attachments[1].id, Some(5));
        assert_eq!(e.attachments[1].size, Some(1000));
        let m: Money = decode(&json!({"amount": " 499.5 ", "currency": "GBP"})).unwrap();
        assert_eq!(m.amount, Some(499.5));
        let m: Money = decode(&json!({"amount": null})).unwrap();
        assert_eq!(m.amount, None);
        for (bad, path) in [
            (
                json!({"attachments": [{"size": "big"}]}),
                "attachments[0].size",
            ),
            (
                json!({"attachments": [{"size": true}]}),
                "attachments[0].size",
            ),
            (
                json!({"attachments": [{"size": 1.5}]}),
                "attachments[0].size",
            ),
            (
                json!({"attachments": [{"size": [1]}]}),
                "attachments[0].size",
            ),
            (
                json!({"attachments": [{"size": ""}]}),
                "attachments[0].size",
            ),
            (json!({"id": "NaN"}), "id"),
            (json!({"id": {"n": 1}}), "id"),
        ] {
            let err = decode::<crate::capsule::wire::Entry>(&bad).unwrap_err();
            assert_eq!(err.path, path, "{bad}");
            assert!(err.message.contains("an integer"), "{}", err.message);
        }
        let err = decode::<Money>(&json!({"amount": "inf"})).unwrap_err();
        assert_eq!(err.path, "amount");
    }

    #[test]
    fn money_amount_may_have_decimals() {
        let m: Money = decode(&json!({"amount": 499.5, "currency": "GBP"})).unwrap();
        assert_eq!(m.amount, Some(499.5));
        assert_eq!(m.currency.as_deref(), Some("GBP"));
    }
}
