//! Timeline entries (notes, emails, completed tasks): `/entries`, envelope keys `entry` /
//! `entries`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{NestedParty, NestedRef, NestedUser, null_as_empty};

/// An entry (§5.5.2). `type` is `note`, `email` or `task`; the API only creates notes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<NestedUser>,
    /// Default `{"id": -1, "name": "Note"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<NestedParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<NestedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kase: Option<NestedRef>,
    /// Emails: every related party.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub parties: Vec<NestedParty>,
    /// Emails: sender and recipients.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub participants: Vec<Participant>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `attachments[]`; on create only `token` (from `POST /attachments/upload`) is sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Bytes.
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `participants[]` of an email entry; `role` such as `FROM`, `TO`, `CC`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::{unwrap_list, unwrap_single};
    use serde_json::json;

    #[test]
    fn decodes_the_doc_list_example() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/entries_list.json"
        ))
        .unwrap();
        let entries: Vec<Entry> = unwrap_list(&body, "entries").unwrap();
        assert_eq!(entries.len(), 2);
        let task = &entries[0];
        assert_eq!(task.entry_type.as_deref(), Some("task"));
        assert_eq!(task.activity_type.as_ref().unwrap().id, Some(-4));
        assert!(task.attachments.is_empty());
        let note = &entries[1];
        assert_eq!(
            note.activity_type.as_ref().unwrap().name.as_deref(),
            Some("Note")
        );
        let attachment = &note.attachments[0];
        assert_eq!(attachment.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(attachment.size, Some(5557452));
        assert_eq!(
            note.creator.as_ref().unwrap().username.as_deref(),
            Some("ted")
        );
        assert_eq!(
            note.party.as_ref().unwrap().display_name().as_deref(),
            Some("Zestia")
        );
    }

    #[test]
    fn decodes_the_create_note_body() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/entry_create_note.json"
        ))
        .unwrap();
        let e: Entry = unwrap_single(&body, "entry").unwrap();
        assert_eq!(e.activity_type.as_ref().unwrap().id, Some(-2));
        assert!(
            e.attachments[0]
                .token
                .as_deref()
                .unwrap()
                .starts_with("u1/")
        );
    }

    #[test]
    fn decodes_an_email_with_null_lists_and_unknown_fields() {
        let e: Entry = serde_json::from_value(json!({
            "id": 1, "type": "email", "subject": "Re: quote",
            "parties": [{"id": 11587, "type": "person", "firstName": "Scott", "lastName": "Spacey"}],
            "participants": [{"id": 1, "address": "scott@homestyleshop.co", "name": "Scott Spacey", "role": "FROM"}],
            "attachments": null, "messageId": "<abc@x>"
        }))
        .unwrap();
        assert_eq!(e.participants[0].role.as_deref(), Some("FROM"));
        assert_eq!(e.parties[0].display_name().as_deref(), Some("Scott Spacey"));
        assert!(e.attachments.is_empty());
        assert_eq!(e.extra.get("messageId"), Some(&json!("<abc@x>")));
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"entries": [{"id": 1}, {"id": 2, "attachments": [{"size": "big"}]}]});
        let err = unwrap_list::<Entry>(&body, "entries").unwrap_err();
        assert_eq!(err.path, "entries[1].attachments[0].size");
    }
}
