//! Custom field definitions ⇄ unified fields.

use serde_json::{Map, Value, json};

use super::{decode_err, fields::unified_type};
use crate::capsule::{
    CapsuleError,
    endpoint::{Endpoint, KASE_FIELDS, OPPORTUNITY_FIELDS, PARTY_FIELDS},
    wire::{self, FieldDefinition},
};
use crate::unified::{EntityType, Field, FieldType, Ref, field::FieldOption};

/// Where the definitions of an entity type live.
pub fn endpoint(entity: EntityType) -> &'static Endpoint {
    match entity {
        EntityType::Contact | EntityType::Account => &PARTY_FIELDS,
        EntityType::Opportunity => &OPPORTUNITY_FIELDS,
        EntityType::Project => &KASE_FIELDS,
    }
}

/// Whether a definition shows on records of `entity`: a party definition without a capture
/// rule shows on people and organisations alike.
pub fn applies(def: &FieldDefinition, entity: EntityType) -> bool {
    match (entity, def.capture_rule.as_deref()) {
        (EntityType::Contact, Some(rule)) => rule.eq_ignore_ascii_case("person"),
        (EntityType::Account, Some(rule)) => rule.eq_ignore_ascii_case("organisation"),
        _ => true,
    }
}

pub fn decode(raw: &Value) -> Result<FieldDefinition, CapsuleError> {
    wire::decode::<FieldDefinition>(raw).map_err(decode_err)
}

pub fn to_field(raw: &Value, entity: EntityType, include_raw: bool) -> Result<Field, CapsuleError> {
    let d = decode(raw)?;
    let name = d.name.clone().unwrap_or_default();
    Ok(Field {
        id: d.id.map(|i| i.to_string()).unwrap_or_default(),
        label: name.clone(),
        name,
        description: d.description.clone().filter(|s| !s.is_empty()),
        kind: unified_type(d.field_type.as_deref().unwrap_or("text")).to_owned(),
        options: d
            .options
            .iter()
            .map(|o| FieldOption {
                label: o.clone(),
                value: o.clone(),
            })
            .collect(),
        entity_type: entity,
        is_important: d.important.unwrap_or(false),
        data_tag: d.tag.as_ref().and_then(|t| {
            Some(Ref {
                id: t.id?.to_string(),
                name: t.name.clone(),
            })
        }),
        display_order: d.display_order,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

/// Capsule's name of a unified field type.
pub fn capsule_type(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "text",
        FieldType::Text => "large_text",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
        FieldType::Enum => "list",
        FieldType::Url => "link",
    }
}

/// What a new definition is made of.
#[derive(Debug, Clone)]
pub struct NewField<'a> {
    pub entity: EntityType,
    pub name: &'a str,
    pub kind: FieldType,
    pub description: Option<&'a str>,
    pub options: Option<&'a [String]>,
    pub is_important: Option<bool>,
}

/// The Capsule `definition` body of a create. Contact and account fields get the capture rule
/// that shows them only on people or only on organisations.
pub fn create_body(f: &NewField<'_>) -> Result<Map<String, Value>, String> {
    let name = f.name.trim();
    if name.is_empty() {
        return Err("`name` must not be empty".into());
    }
    let mut body = Map::new();
    body.insert("name".into(), name.into());
    body.insert("type".into(), capsule_type(f.kind).into());
    if let Some(d) = f.description {
        body.insert("description".into(), d.into());
    }
    if let Some(i) = f.is_important {
        body.insert("important".into(), i.into());
    }
    match (f.kind, f.options) {
        (FieldType::Enum, Some(options)) => {
            let options: Vec<&str> = options
                .iter()
                .map(|o| o.trim())
                .filter(|o| !o.is_empty())
                .collect();
            if options.is_empty() {
                return Err("an `enum` field needs non-empty `options`".into());
            }
            body.insert("options".into(), json!(options));
        }
        (FieldType::Enum, None) => {
            return Err("an `enum` field needs `options` (the choices)".into());
        }
        (_, Some(o)) if !o.is_empty() => {
            return Err("`options` only applies to `enum` fields".into());
        }
        _ => {}
    }
    match f.entity {
        EntityType::Contact => {
            body.insert("captureRule".into(), "person".into());
        }
        EntityType::Account => {
            body.insert("captureRule".into(), "organisation".into());
        }
        _ => {}
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::capsule::map::fixture;

    #[test]
    fn maps_the_documented_party_definitions() {
        let body = fixture("definitions_parties_doc.json");
        let raw = body["definitions"].as_array().unwrap();
        let f: Vec<Field> = raw
            .iter()
            .map(|r| to_field(r, EntityType::Contact, false).unwrap())
            .collect();
        assert_eq!(f[0].id, "45");
        assert_eq!(f[0].name, "Refering Site");
        assert_eq!(f[0].label, "Refering Site");
        assert_eq!(f[0].kind, "string");
        assert!(!f[0].is_important);
        assert_eq!(f[0].display_order, Some(1));
        assert_eq!(f[1].kind, "number");
        assert_eq!(
            f[1].data_tag,
            Some(Ref {
                id: "1499".into(),
                name: Some("Lead".into())
            })
        );
        assert_eq!(f[2].kind, "date");
        assert_eq!(f[2].description.as_deref(), Some("Birthday Field"));
        assert_eq!(f[3].kind, "enum");
        assert_eq!(f[3].options.len(), 4);
        assert_eq!(f[3].options[0].label, "Technology");
        assert_eq!(f[3].options[0].value, "Technology");
        assert_eq!(f[4].kind, "boolean");
        assert!(f.iter().all(|x| x.entity_type == EntityType::Contact));
        assert!(f[0].remote_data.is_none());
        assert_eq!(
            to_field(&raw[0], EntityType::Account, true)
                .unwrap()
                .remote_data
                .as_ref(),
            Some(&raw[0])
        );

        // Capture rules: people see 45, 51, 46, 48; organisations 45, 51, 47, 48.
        let defs: Vec<FieldDefinition> = raw.iter().map(|r| decode(r).unwrap()).collect();
        let ids = |e| {
            defs.iter()
                .filter(|d| applies(d, e))
                .map(|d| d.id.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(EntityType::Contact), [45, 51, 46, 48]);
        assert_eq!(ids(EntityType::Account), [45, 51, 47, 48]);
    }

    #[test]
    fn maps_the_recorded_kase_definition() {
        let body = fixture("definitions_kases.json");
        let f = to_field(&body["definitions"][0], EntityType::Project, false).unwrap();
        assert_eq!(f.id, "926886");
        assert_eq!(f.kind, "enum");
        assert!(f.description.is_none());
        assert_eq!(
            f.options
                .iter()
                .map(|o| o.value.as_str())
                .collect::<Vec<_>>(),
            ["Traveling", "Food", "Art"]
        );
        assert_eq!(f.data_tag.as_ref().unwrap().id, "168298");
        assert_eq!(f.entity_type, EntityType::Project);
        assert_eq!(
            endpoint(EntityType::Project).path,
            "/kases/fields/definitions"
        );
        assert_eq!(
            endpoint(EntityType::Account).path,
            "/parties/fields/definitions"
        );
    }

    #[test]
    fn builds_create_bodies() {
        let opts = vec!["Gold".to_owned(), " Silver ".to_owned()];
        let body = create_body(&NewField {
            entity: EntityType::Account,
            name: " Tier ",
            kind: FieldType::Enum,
            description: Some("Support tier"),
            options: Some(&opts),
            is_important: Some(true),
        })
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"name": "Tier", "type": "list", "description": "Support tier",
                   "important": true, "options": ["Gold", "Silver"],
                   "captureRule": "organisation"})
        );
        let body = create_body(&NewField {
            entity: EntityType::Opportunity,
            name: "Notes",
            kind: FieldType::Text,
            description: None,
            options: None,
            is_important: None,
        })
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"name": "Notes", "type": "large_text"})
        );
        for (kind, options, name) in [
            (FieldType::Enum, None, "x"),
            (FieldType::Enum, Some(&[][..]), "x"),
            (FieldType::Number, Some(&opts[..]), "x"),
            (FieldType::Url, None, "  "),
        ] {
            assert!(
                create_body(&NewField {
                    entity: EntityType::Contact,
                    name,
                    kind,
                    description: None,
                    options,
                    is_important: None,
                })
                .is_err()
            );
        }
        for (t, c) in [
            (FieldType::String, "text"),
            (FieldType::Url, "link"),
            (FieldType::Boolean, "boolean"),
            (FieldType::Date, "date"),
        ] {
            assert_eq!(
                unified_type(capsule_type(t)),
                serde_json::to_value(t).unwrap()
            );
            assert_eq!(capsule_type(t), c);
        }
    }
}
