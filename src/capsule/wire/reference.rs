//! Reference data: activity types, task categories, custom field definitions, tags, person
//! titles, countries, currencies, the site, and async jobs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{TagRef, null_as_empty};

/// An entry activity type (`/activitytypes`, keys `activityType` / `activityTypes`). Built-ins
/// have negative ids: -1 Note, -2 Meeting, -3 Call, -4 Task completed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActivityType {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `{id, iconName, displayName, isSystem, order}`; shape not pinned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Value>,
    /// Whether entries of this type update the record's `lastContactedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_last_contacted: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A task category (`/categories`, keys `category` / `categories`), also nested in a task.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskCategory {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// CSS hex, e.g. `#d36c00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A custom field definition (`/{entity}/fields/definitions`, keys `definition` /
/// `definitions`, §8.1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefinition {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `text`, `number`, `date`, `boolean`, `list`, `link`, `large_text`, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub field_type: Option<String>,
    /// Only for `list` fields.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub important: Option<bool>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_order: Option<i64>,
    /// Parties only: `person`, `organisation` or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_rule: Option<String>,
    /// The data tag the field belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagRef>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tag definition (`/{entity}/tags`, keys `tag` / `tags`). A data tag carries custom fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_tag: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A person title (`/titles`, keys `personTitle` / `personTitles`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PersonTitle {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A country (`/countries`, key `countries`). Address `country` must be one of these names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Country {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha2_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha3_code: Option<String>,
    /// String or number: not pinned down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_code: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A currency (`/currencies`, key `currencies`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    /// ISO 4217.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `£` (not confirmed by Capsule's docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `British Pound` (not confirmed by Capsule's docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Capsule account (`/site`, key `site`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An async job (`/jobs/{id}`, key `job`), e.g. after a `202` tag delete. The id is a UUID.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `completed`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// 0–100.
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::{unwrap_list, unwrap_single};
    use serde_json::json;

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn decodes_activity_types_with_negative_ids() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/activity_types_list.json"
        ));
        let types: Vec<ActivityType> = unwrap_list(&body, "activityTypes").unwrap();
        assert_eq!(types[0].id, Some(-1));
        assert_eq!(types[1].update_last_contacted, Some(true));
        assert_eq!(types[1].icon.as_ref().unwrap()["iconName"], json!("phone"));
    }

    #[test]
    fn decodes_field_definitions() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/definitions_parties_doc.json"
        ));
        let defs: Vec<FieldDefinition> = unwrap_list(&body, "definitions").unwrap();
        assert_eq!(defs.len(), 5);
        assert_eq!(defs[0].field_type.as_deref(), Some("text"));
        assert!(defs[0].options.is_empty() && defs[0].tag.is_none());
        assert_eq!(defs[1].tag.as_ref().unwrap().data_tag, Some(true));
        assert_eq!(defs[2].capture_rule.as_deref(), Some("person"));
        assert_eq!(defs[3].options.len(), 4);

        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/definitions_kases.json"
        ));
        let defs: Vec<FieldDefinition> = unwrap_list(&body, "definitions").unwrap();
        assert_eq!(defs[0].important, Some(false));
        assert_eq!(defs[0].options, ["Traveling", "Food", "Art"]);

        let empty: Vec<FieldDefinition> =
            unwrap_list(&json!({"definitions": []}), "definitions").unwrap();
        assert!(empty.is_empty());

        let null_options: FieldDefinition =
            serde_json::from_value(json!({"id": 1, "options": null, "unit": "kg"})).unwrap();
        assert!(null_options.options.is_empty());
        assert_eq!(null_options.extra.get("unit"), Some(&json!("kg")));
    }

    #[test]
    fn decodes_tags_titles_countries_site_and_job() {
        let tags: Vec<Tag> = unwrap_list(
            &fixture(include_str!(
                "../../../tests/fixtures/capsule/tags_list.json"
            )),
            "tags",
        )
        .unwrap();
        assert_eq!(tags[1].data_tag, Some(true));
        assert_eq!(tags[0].description.as_deref(), Some("A tag"));

        let titles: Vec<PersonTitle> = unwrap_list(
            &fixture(include_str!(
                "../../../tests/fixtures/capsule/titles_list.json"
            )),
            "personTitles",
        )
        .unwrap();
        assert_eq!(titles[1].title.as_deref(), Some("Dr"));

        let countries: Vec<Country> = unwrap_list(
            &json!({"countries": [{"name": "Germany", "alpha2Code": "DE", "numericCode": 276}]}),
            "countries",
        )
        .unwrap();
        assert_eq!(countries[0].numeric_code, Some(json!(276)));

        let site: Site = unwrap_single(
            &fixture(include_str!(
                "../../../tests/fixtures/capsule/site_show.json"
            )),
            "site",
        )
        .unwrap();
        assert_eq!(site.subdomain.as_deref(), Some("acme"));

        let job: Job = unwrap_single(
            &fixture(include_str!(
                "../../../tests/fixtures/capsule/job_show.json"
            )),
            "job",
        )
        .unwrap();
        assert_eq!(job.progress, Some(100));
        assert_eq!(job.status.as_deref(), Some("completed"));
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"definitions": [{"id": 1, "options": ["a", 2]}]});
        let err = unwrap_list::<FieldDefinition>(&body, "definitions").unwrap_err();
        assert_eq!(err.path, "definitions[0].options[1]");
    }
}
