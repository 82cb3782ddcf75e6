//! Segments: tags (all must be on the record) and custom field equality, as conditions of
//! Capsule's structured filter and as the same test on a fetched record (for the list paths
//! the filter does not serve, and to confirm what the filter returned).

use serde_json::{Value, json};

/// Resolved segment filters: ids only, checked against Capsule's reference data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segment {
    /// Tag ids; every one must be on the record.
    pub tag_ids: Vec<i64>,
    /// `(field definition id, value)`, the value as Capsule's filter takes it (null: empty).
    pub fields: Vec<(i64, Value)>,
}

impl Segment {
    pub fn is_empty(&self) -> bool {
        self.tag_ids.is_empty() && self.fields.is_empty()
    }

    /// Structured filter conditions: `tag is <id>` with the id as a JSON number (a string is
    /// read as a tag name), `custom:{id} is <value>`.
    pub fn conditions(&self) -> Vec<Value> {
        let tags = self
            .tag_ids
            .iter()
            .map(|id| json!({"field": "tag", "operator": "is", "value": id}));
        let fields = self.fields.iter().map(|(id, value)| {
            json!({"field": format!("custom:{id}"), "operator": "is", "value": value})
        });
        tags.chain(fields).collect()
    }

    /// Whether a raw record (tags and fields embedded) is in the segment.
    pub fn matches(&self, raw: &Value) -> bool {
        let rows = |key: &str| raw.get(key).and_then(Value::as_array).cloned();
        let tags = rows("tags").unwrap_or_default();
        let has_tag = |id: i64| {
            tags.iter()
                .any(|t| t.get("id").and_then(Value::as_i64) == Some(id))
        };
        if !self.tag_ids.iter().all(|id| has_tag(*id)) {
            return false;
        }
        let fields = rows("fields").unwrap_or_default();
        self.fields.iter().all(|(id, want)| {
            let have = fields
                .iter()
                .find(|f| {
                    f.get("definition")
                        .and_then(|d| d.get("id"))
                        .and_then(Value::as_i64)
                        == Some(*id)
                })
                .and_then(|f| f.get("value"));
            same_value(have, want)
        })
    }
}

/// Equality as Capsule's `is` reads it: numbers by value (Capsule sends them back as
/// strings), text without case, a boolean left unset is false, null is empty.
fn same_value(have: Option<&Value>, want: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (have, want) {
        (None | Some(Value::Null), Value::Null) => true,
        (Some(Value::String(s)), Value::Null) => s.is_empty(),
        (None | Some(Value::Null), Value::Bool(b)) => !b,
        (Some(Value::Bool(h)), Value::Bool(w)) => h == w,
        (Some(h), Value::Number(_)) => match (num(h), num(want)) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => false,
        },
        (Some(Value::String(h)), Value::String(w)) => h.trim().eq_ignore_ascii_case(w.trim()),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn conditions_send_tag_ids_as_numbers_and_fields_as_custom_ids() {
        let s = Segment {
            tag_ids: vec![3, 5],
            fields: vec![(48, json!(true)), (49, json!(17))],
        };
        assert_eq!(
            s.conditions(),
            vec![
                json!({"field": "tag", "operator": "is", "value": 3}),
                json!({"field": "tag", "operator": "is", "value": 5}),
                json!({"field": "custom:48", "operator": "is", "value": true}),
                json!({"field": "custom:49", "operator": "is", "value": 17}),
            ]
        );
    }

    #[test]
    fn a_record_matches_when_it_has_every_tag_and_field_value() {
        let raw = json!({
            "tags": [{"id": 3, "name": "VIP"}, {"id": 1, "name": "Customer"}],
            "fields": [
                {"id": 9, "definition": {"id": 49, "name": "Employees"}, "value": "17"},
                {"id": 10, "definition": {"id": 47, "name": "Sector"}, "value": "Technology"}
            ]
        });
        let s = |tags: Vec<i64>, fields: Vec<(i64, Value)>| Segment {
            tag_ids: tags,
            fields,
        };
        assert!(s(vec![1, 3], vec![(49, json!(17))]).matches(&raw));
        assert!(s(vec![], vec![(47, json!("technology"))]).matches(&raw));
        assert!(
            s(vec![], vec![(48, json!(false))]).matches(&raw),
            "unset is false"
        );
        assert!(
            s(vec![], vec![(50, Value::Null)]).matches(&raw),
            "unset is empty"
        );
        assert!(!s(vec![1, 4], vec![]).matches(&raw), "every tag");
        assert!(!s(vec![], vec![(49, json!(18))]).matches(&raw));
        assert!(!s(vec![], vec![(48, json!(true))]).matches(&raw));
        assert!(
            !s(vec![], vec![(47, json!("Tech"))]).matches(&raw),
            "not a substring"
        );
    }
}
