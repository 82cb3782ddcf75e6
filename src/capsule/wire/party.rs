//! Parties (people and organisations): `/parties`, envelope keys `party` / `parties`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{FieldValue, NestedParty, NestedRef, NestedUser, TagRef, null_as_empty};

/// A party's `type`. Unknown values decode as [`PartyType::Unknown`] instead of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyType {
    Person,
    Organisation,
    #[serde(other)]
    Unknown,
}

/// A person or an organisation (§5.1.2). `tags`, `fields` and `missingImportantFields` are only
/// present when embedded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Party {
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
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<NestedParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<NestedUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contacted_at: Option<String>,
    #[serde(
        default,
        rename = "pictureURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub phone_numbers: Vec<PhoneNumber>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub websites: Vec<Website>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_important_fields: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Party {
    /// The organisation's name, or the person's "first last"; `None` when nothing is known.
    pub fn display_name(&self) -> Option<String> {
        super::common::display_name(
            self.name.as_deref(),
            self.first_name.as_deref(),
            self.last_name.as_deref(),
        )
    }
}

/// `emailAddresses[]`: `type` is `Home`, `Work` or null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `phoneNumbers[]`: `type` is `Home`, `Work`, `Mobile`, `Fax`, `Direct` or null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `addresses[]`: `country` is a name from `/countries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `websites[]`: `service` is `URL`, `TWITTER`, `LINKED_IN`, ...; `url` is derived by Capsule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Website {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An item of `GET /{parties|opportunities|kases}/deleted`'s main list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An item of `restrictedParties` / `restrictedOpportunities` / `restrictedKases`: a record the
/// user may no longer see, with placeholder names (`"Private"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestrictedRecord {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_restricted: Option<bool>,
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
    fn decodes_the_recorded_first_page() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/parties_list_first_page.json"
        ));
        let parties: Vec<Party> = unwrap_list(&body, "parties").unwrap();
        assert_eq!(parties.len(), 2);

        let org = &parties[0];
        assert_eq!(org.id, Some(254633973));
        assert_eq!(org.party_type, Some(PartyType::Organisation));
        assert_eq!(org.display_name().as_deref(), Some("Capsule"));
        assert!(org.owner.is_none());
        assert_eq!(org.websites.len(), 5);
        assert_eq!(org.websites[0].service.as_deref(), Some("TWITTER"));
        assert_eq!(
            org.websites[0].url.as_deref(),
            Some("https://twitter.com/capsulecrm")
        );
        assert_eq!(
            org.email_addresses[0].address.as_deref(),
            Some("support@capsulecrm.com")
        );
        // `enrichment` is undocumented: kept, not dropped.
        assert_eq!(org.extra.get("enrichment"), Some(&Value::Null));
        assert!(org.tags.is_none() && org.fields.is_none());

        let person = &parties[1];
        assert_eq!(person.party_type, Some(PartyType::Person));
        assert_eq!(person.display_name().as_deref(), Some("Integration User"));
        let owner = person.owner.as_ref().unwrap();
        assert_eq!(owner.username.as_deref(), Some("integration.user"));
        assert_eq!(owner.deleted, Some(false));
        assert!(
            owner
                .picture_url
                .as_deref()
                .unwrap()
                .starts_with("https://")
        );
    }

    #[test]
    fn decodes_a_person_with_everything() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/party_show_full.json"
        ));
        let p: Party = unwrap_single(&body, "party").unwrap();
        assert_eq!(p.id, Some(11587));
        assert_eq!(p.title.as_deref(), Some("Mr"));
        assert_eq!(p.job_title.as_deref(), Some("Creative Director"));
        let org = p.organisation.as_ref().unwrap();
        assert_eq!(org.display_name().as_deref(), Some("Zestia"));
        assert_eq!(p.addresses[0].country.as_deref(), Some("United States"));
        assert_eq!(p.addresses[0].zip.as_deref(), Some("65629"));
        assert_eq!(p.phone_numbers[0].number.as_deref(), Some("773-338-7786"));
        assert_eq!(p.email_addresses[0].kind.as_deref(), Some("Work"));
        let tags = p.tags.as_ref().unwrap();
        assert_eq!(tags[1].data_tag, Some(true));
        let fields = p.fields.as_ref().unwrap();
        assert_eq!(fields[1].value, json!(true));
        assert_eq!(p.missing_important_fields, Some(false));
        assert!(p.extra.is_empty(), "{:?}", p.extra);
    }

    #[test]
    fn unknown_fields_land_in_extra_and_survive_a_round_trip() {
        let raw = json!({"id": 1, "type": "person", "lastName": "X", "enrichment": {"score": 3}, "futureField": [1, 2]});
        let p: Party = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(p.extra.get("futureField"), Some(&json!([1, 2])));
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["enrichment"], json!({"score": 3}));
        assert_eq!(back["futureField"], json!([1, 2]));
    }

    #[test]
    fn null_lists_decode_as_empty() {
        let p: Party = serde_json::from_value(json!({
            "id": 1, "emailAddresses": null, "phoneNumbers": null, "addresses": null, "websites": null
        }))
        .unwrap();
        assert!(p.email_addresses.is_empty());
        assert!(p.phone_numbers.is_empty());
        assert!(p.addresses.is_empty());
        assert!(p.websites.is_empty());
        let empty: Party = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, Party::default());
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"parties": [
            {"id": 1, "emailAddresses": [{"id": 2, "address": "a@b.c"}]},
            {"id": 3, "emailAddresses": [{"id": "abc"}]}
        ]});
        let err = unwrap_list::<Party>(&body, "parties").unwrap_err();
        assert_eq!(err.path, "parties[1].emailAddresses[0].id");
    }

    #[test]
    fn decodes_deleted_and_restricted_parties() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/parties_deleted.json"
        ));
        let deleted: Vec<DeletedRecord> = unwrap_list(&body, "parties").unwrap();
        assert_eq!(deleted[0].id, Some(11587));
        assert_eq!(
            deleted[0].deleted_at.as_deref(),
            Some("2016-02-24T08:37:40Z")
        );
        let restricted: Vec<RestrictedRecord> = unwrap_list(&body, "restrictedParties").unwrap();
        assert_eq!(restricted[0].is_restricted, Some(true));
        assert_eq!(restricted[0].last_name.as_deref(), Some("Private"));
        assert_eq!(restricted[0].party_type, Some(PartyType::Person));
    }

    #[test]
    fn create_body_decodes_and_reserializes_without_nulls() {
        let body = fixture(include_str!(
            "../../../tests/fixtures/capsule/party_create_person.json"
        ));
        let p: Party = unwrap_single(&body, "party").unwrap();
        assert_eq!(p.organisation.as_ref().and_then(|o| o.id), Some(892));
        assert_eq!(
            p.tags.as_ref().unwrap()[0].name.as_deref(),
            Some("Customer")
        );
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["organisation"], json!({"id": 892}));
        assert_eq!(back["owner"], json!({"id": 61}));
        assert!(back.get("id").is_none());
    }
}
