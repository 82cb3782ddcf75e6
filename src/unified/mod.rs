//! The provider-neutral models an agent sees: strict, documented, described by JSON Schema.
//!
//! Ids are strings, timestamps ISO-8601 UTC, dates `YYYY-MM-DD`. Empty and unknown values are
//! left out of the output to keep results small.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod account;
pub mod contact;
pub mod deleted;
pub mod engagement;
pub mod field;
pub mod input;
pub mod note;
pub mod opportunity;
pub mod pipeline;
pub mod project;
pub mod search;
pub mod summary;
pub mod task;
pub mod user;

pub use account::Account;
pub use contact::Contact;
pub use deleted::DeletedRecord;
pub use engagement::{Engagement, EngagementType};
pub use field::{EntityType, Field, FieldType};
pub use note::Note;
pub use opportunity::Opportunity;
pub use pipeline::{Pipeline, Stage};
pub use project::Project;
pub use summary::Summary;
pub use task::Task;
pub use user::{DirectoryUser, User};

/// A reference to another record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ref {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Rows (email addresses, phone numbers, addresses, web addresses) carry no ids: updates find
/// them by value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailAddress {
    pub email: String,
    /// `Home`, `Work` or absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhoneNumber {
    pub number: String,
    /// `Home`, `Work`, `Mobile`, `Fax`, `Direct` or absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country name as Capsule knows it, e.g. `United Kingdom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// `Home`, `Postal`, `Office`, `Billing`, `Shipping` or absent.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A web address; `type` is the service (`URL`, `LINKED_IN`, `TWITTER`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Url {
    pub url: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A tag. Records carry its `name` (tags are written, removed and filtered by name);
/// crm_list_tags gives ids too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
}

/// A person's first and last name together; `None` when both are missing or blank.
pub fn person_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .filter(|n| !n.trim().is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// What a record is called, as a person would read it: its `name`, a contact's first and last
/// name (whole records carry those instead of `name`), or a task's subject or an entry's text.
pub fn title_of(record: &Value) -> Option<String> {
    let text = |k: &str| {
        record
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    if let Some(n) = text("name") {
        return Some(n.to_owned());
    }
    if let Some(n) = person_name(text("first_name"), text("last_name")) {
        return Some(n);
    }
    text("subject")
        .or_else(|| text("content"))
        .map(str::to_owned)
}

/// Custom field values keyed by the field definition's name.
pub type CustomFields = BTreeMap<String, Value>;

/// One page of records.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListResult<T> {
    pub result: Vec<T>,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub result_count: usize,
    /// `budget`: cut to fit the result's token budget; `next_cursor` goes on at the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    /// On a lookup (`email`, `phone`) that found nothing: what was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched: Option<String>,
}

/// The answer of a delete.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// The request a write would send, returned instead of sending it when `dry_run` is true.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DryRun {
    pub dry_run: bool,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// What a write returns: the stored record, or with `dry_run` the request it would send.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum WriteResult<T> {
    DryRun(DryRun),
    Record(T),
}

/// The structured content of every error result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    /// HTTP-style status: 400 bad arguments, 404 not found, 422 rejected by Capsule, 429 rate
    /// limited, 5xx Capsule trouble.
    pub status: u16,
    /// Machine-readable: `invalid_argument`, `not_found`, `validation_failed`, `unauthorized`,
    /// `forbidden`, `rate_limited`, `upstream_error`, `timeout`, `outcome_unknown`, ...
    pub code: String,
    /// What went wrong and what to do next.
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

pub(crate) fn is_empty_map(m: &CustomFields) -> bool {
    m.is_empty()
}
