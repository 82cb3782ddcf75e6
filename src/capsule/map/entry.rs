//! Entries ⇄ notes and engagements; activity types → engagement types.
//!
//! `engagement_type` of an entry: an entry of type `email` is `email`; otherwise the activity
//! type decides: the built-ins -1 `note`, -2 `meeting`, -3 `call`, -4 `task_completed`, a custom
//! type its own name as Capsule spells it (`Demo`). An entry without activity type is `note`,
//! or `task_completed` when its type is `task`.

use serde_json::{Map, Value, json};

pub mod details;

use super::{decode_err, format_timestamp, id_string, merge_remote, party_ref, ref_of, user_ref};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::{ENTRIES, KASES, OPPORTUNITIES, PARTIES},
    wire::{self, ActivityType, Entry, NestedParty, PartyType},
};
use crate::unified::{
    Engagement, EngagementType, Note, Ref,
    engagement::{Attachment, Participant},
};

/// Embeds every entry read asks for (names of the linked records).
pub const EMBED: &str = "party,kase,opportunity,creator,activityType";

/// The unified names of Capsule's built-in activity types.
pub const BUILT_INS: [(i64, &str); 4] = [
    (-1, "note"),
    (-2, "meeting"),
    (-3, "call"),
    (-4, "task_completed"),
];

/// Every `engagement_type` that does not come from a custom activity type.
pub const BUILT_IN_NAMES: [&str; 5] = ["note", "meeting", "call", "task_completed", "email"];

pub fn built_in(id: i64) -> Option<&'static str> {
    BUILT_INS.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

fn decode_entry(raw: &Value) -> Result<Entry, CapsuleError> {
    wire::decode::<Entry>(raw).map_err(decode_err)
}

/// Whether a raw entry is a note (Capsule entry type `note`).
pub fn is_note(raw: &Value) -> bool {
    raw.get("type").and_then(Value::as_str) == Some("note")
}

/// Capsule's entry type (`note`, `email`, `task`) of a raw entry.
pub fn entry_type(raw: &Value) -> Option<&str> {
    raw.get("type").and_then(Value::as_str)
}

pub fn engagement_type_of(e: &Entry) -> String {
    if e.entry_type.as_deref() == Some("email") {
        return "email".into();
    }
    if let Some(a) = &e.activity_type
        && let Some(id) = a.id
    {
        if let Some(name) = built_in(id) {
            return name.into();
        }
        if let Some(name) = &a.name {
            return name.clone();
        }
    }
    if e.entry_type.as_deref() == Some("task") {
        "task_completed".into()
    } else {
        "note".into()
    }
}

/// The engagement type of a raw entry; `None` when it does not decode.
pub fn engagement_type_of_raw(raw: &Value) -> Option<String> {
    wire::decode::<Entry>(raw)
        .ok()
        .map(|e| engagement_type_of(&e))
}

fn is_org(p: &NestedParty) -> bool {
    p.party_type == Some(PartyType::Organisation)
}

pub fn to_note(raw: &Value, include_raw: bool) -> Result<Note, CapsuleError> {
    let e = decode_entry(raw)?;
    let party = e.party.as_ref();
    let (account, contact) = match party {
        Some(p) if is_org(p) => (party_ref(&e.party), None),
        Some(_) => (None, party_ref(&e.party)),
        None => (None, None),
    };
    Ok(Note {
        id: id_string(e.id).unwrap_or_default(),
        content: e.content.clone(),
        owner: user_ref(&e.creator),
        account,
        contact,
        opportunity: ref_of(&e.opportunity),
        project: ref_of(&e.kase),
        activity_type: ref_of(&e.activity_type),
        created_at: e.created_at.clone(),
        updated_at: e.updated_at.clone(),
        occurred_at: e.entry_at.clone(),
        remote_data: include_raw.then(|| raw.clone()),
    })
}

pub fn to_engagement(raw: &Value, include_raw: bool) -> Result<Engagement, CapsuleError> {
    let e = decode_entry(raw)?;
    // The main party, then every related party (emails), each once.
    let mut account = None;
    let mut contacts: Vec<Ref> = Vec::new();
    for p in e.party.iter().chain(e.parties.iter()) {
        let Some(r) = party_ref(&Some(p.clone())) else {
            continue;
        };
        if is_org(p) {
            if account.is_none() {
                account = Some(r);
            }
        } else if !contacts.iter().any(|c| c.id == r.id) {
            contacts.push(r);
        }
    }
    // Call details live in the text (see `details`); the text comes back without them.
    let (content, call) = match e.content.as_deref() {
        Some(c) => {
            let (text, call) = details::parse(c);
            (Some(text), call)
        }
        None => (None, details::CallDetails::default()),
    };
    Ok(Engagement {
        id: id_string(e.id).unwrap_or_default(),
        engagement_type: engagement_type_of(&e),
        activity_type: ref_of(&e.activity_type),
        subject: e.subject.clone(),
        content,
        owner: user_ref(&e.creator),
        start_time: e.entry_at.clone(),
        occurred_at: e.entry_at.clone(),
        direction: call.direction,
        duration_seconds: call.duration_seconds,
        outcome: call.outcome,
        recording_url: call.recording_url,
        account,
        contacts,
        opportunity: ref_of(&e.opportunity),
        project: ref_of(&e.kase),
        participants: e
            .participants
            .iter()
            .map(|p| Participant {
                address: p.address.clone(),
                name: p.name.clone(),
                role: p.role.clone(),
            })
            .collect(),
        attachments: e
            .attachments
            .iter()
            .filter_map(|a| {
                Some(Attachment {
                    id: a.id?.to_string(),
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                })
            })
            .collect(),
        created_at: e.created_at.clone(),
        updated_at: e.updated_at.clone(),
        remote_data: include_raw.then(|| raw.clone()),
    })
}

/// `note`, `meeting`, `call`, `task_completed` for the built-ins; `custom` otherwise.
pub fn activity_type_kind(id: Option<i64>) -> &'static str {
    id.and_then(built_in).unwrap_or("custom")
}

pub fn to_engagement_type(raw: &Value, include_raw: bool) -> Result<EngagementType, CapsuleError> {
    let a: ActivityType = wire::decode(raw).map_err(decode_err)?;
    Ok(EngagementType {
        id: id_string(a.id).unwrap_or_default(),
        name: a.name.clone().unwrap_or_default(),
        kind: activity_type_kind(a.id).into(),
        updates_last_contacted: a.update_last_contacted,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

/// Finds the activity type an `engagement_type` name means: a built-in unified name
/// (`call`), or an activity type's own name (`Call`, `Demo`, `Task completed`), any case.
pub fn resolve_activity_type(types: &[ActivityType], name: &str) -> Result<i64, String> {
    let wanted = name.trim();
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
    if norm(wanted) == "email" {
        return Err(
            "Capsule cannot create emails through its API; log it as `note` or another \
                    engagement type"
                .into(),
        );
    }
    let found = types.iter().find(|a| {
        a.id.and_then(built_in).is_some_and(|n| n == norm(wanted))
            || a.name.as_deref().is_some_and(|n| norm(n) == norm(wanted))
    });
    match found.and_then(|a| a.id) {
        Some(id) => Ok(id),
        None => Err(format!(
            "no engagement type `{wanted}`; known: {}",
            known_names(types).join(", ")
        )),
    }
}

/// The `engagement_type` values in use: the built-in names and the custom types' names.
pub fn known_names(types: &[ActivityType]) -> Vec<String> {
    let mut names: Vec<String> = BUILT_IN_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for a in types {
        if a.id.and_then(built_in).is_none()
            && let Some(n) = &a.name
        {
            names.push(n.clone());
        }
    }
    names
}

// ---------------------------------------------------------------- links

/// The record an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Party(i64),
    Opportunity(i64),
    Kase(i64),
}

impl Link {
    /// `/parties/{id}/entries`, ...: the record's timeline.
    pub fn entries_path(self) -> String {
        match self {
            Link::Party(id) => format!("{}/{id}/entries", PARTIES.path),
            Link::Opportunity(id) => format!("{}/{id}/entries", OPPORTUNITIES.path),
            Link::Kase(id) => format!("{}/{id}/entries", KASES.path),
        }
    }

    fn body(self) -> (&'static str, Value) {
        match self {
            Link::Party(id) => ("party", json!({ "id": id })),
            Link::Opportunity(id) => ("opportunity", json!({ "id": id })),
            Link::Kase(id) => ("kase", json!({ "id": id })),
        }
    }
}

/// The link arguments as given: `account_id`, `contact_id`, `opportunity_id`, `project_id`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkArgs<'a> {
    pub account_id: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub opportunity_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
}

const LINK_NAMES: &str = "`account_id`, `contact_id`, `opportunity_id`, `project_id`";

/// At most one link (list filters).
pub fn at_most_one_link(a: LinkArgs<'_>) -> Result<Option<Link>, String> {
    let mut found = Vec::new();
    if let Some(id) = a.account_id {
        found.push(Link::Party(super::parse_id("account_id", id)?));
    }
    if let Some(id) = a.contact_id {
        found.push(Link::Party(super::parse_id("contact_id", id)?));
    }
    if let Some(id) = a.opportunity_id {
        found.push(Link::Opportunity(super::parse_id("opportunity_id", id)?));
    }
    if let Some(id) = a.project_id {
        found.push(Link::Kase(super::parse_id("project_id", id)?));
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(format!("give at most one of {LINK_NAMES}")),
    }
}

/// Exactly one link (creates): Capsule puts an entry on one record.
pub fn one_link(a: LinkArgs<'_>) -> Result<Link, String> {
    at_most_one_link(a)
        .map_err(|_| format!("give exactly one of {LINK_NAMES}: an entry is on one record"))?
        .ok_or_else(|| format!("give exactly one of {LINK_NAMES}: the record the entry is on"))
}

// ---------------------------------------------------------------- writes

/// What an entry write sets; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct EntryWrite<'a> {
    /// Creates only.
    pub link: Option<Link>,
    pub content: Option<&'a str>,
    /// ISO-8601, checked here.
    pub entry_at: Option<&'a str>,
    pub entry_at_name: &'a str,
    pub activity_type_id: Option<i64>,
    pub remote_data: Option<&'a Map<String, Value>>,
}

/// The Capsule `entry` body of a create (`create`: a note with `content` and a link) or update.
pub fn entry_body(w: &EntryWrite<'_>, create: bool) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    if create {
        body.insert("type".into(), "note".into());
        let (key, v) = w.link.ok_or("give the record the entry is on")?.body();
        body.insert(key.into(), v);
    }
    match w.content {
        Some(c) if c.trim().is_empty() => return Err("`content` must not be empty".into()),
        Some(c) => {
            body.insert("content".into(), c.into());
        }
        None if create => return Err("`content` is required".into()),
        None => {}
    }
    if let Some(t) = w.entry_at {
        let t = super::parse_timestamp(w.entry_at_name, t)?;
        body.insert("entryAt".into(), format_timestamp(&t).into());
    }
    if let Some(id) = w.activity_type_id {
        body.insert("activityType".into(), json!({ "id": id }));
    }
    merge_remote(&mut body, w.remote_data)?;
    Ok(body)
}

// ---------------------------------------------------------------- lists

/// The one Capsule request for a page of entries: the record's timeline (at most 50 a page)
/// or every entry.
pub fn list_request(link: Option<Link>, page: u32, per_page: u32) -> Request {
    let path = match link {
        Some(l) => l.entries_path(),
        None => ENTRIES.path.to_owned(),
    };
    Request::get(path)
        .query("page", page.to_string())
        .query("perPage", per_page.to_string())
        .query("embed", EMBED)
}

/// Whether an entry changed after `after` (applied locally: Capsule has no documented filter).
pub fn updated_after(raw: &Value, after: &chrono::DateTime<chrono::Utc>) -> bool {
    let updated = raw
        .get("updatedAt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    super::updated_after(&updated, *after)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::capsule::map::fixture;

    fn types() -> Vec<ActivityType> {
        wire::unwrap_list(&fixture("activity_types_list.json"), "activityTypes").unwrap()
    }

    #[test]
    fn maps_the_recorded_note() {
        let body = fixture("entries_list.json");
        let raw = &body["entries"][1];
        assert!(is_note(raw));
        let n = to_note(raw, false).unwrap();
        assert_eq!(n.id, "11");
        assert_eq!(n.content.as_deref(), Some("Shakespeare's collected works"));
        assert_eq!(n.owner.as_ref().unwrap().id, "61");
        assert_eq!(
            n.owner.as_ref().unwrap().name.as_deref(),
            Some("Ted Danson")
        );
        assert_eq!(
            n.account,
            Some(Ref {
                id: "892".into(),
                name: Some("Zestia".into())
            })
        );
        assert!(n.contact.is_none(), "an organisation is an account");
        assert_eq!(n.activity_type.as_ref().unwrap().id, "-1");
        assert_eq!(n.occurred_at.as_deref(), Some("2015-12-07T16:54:27Z"));
        assert!(n.remote_data.is_none());
        assert_eq!(to_note(raw, true).unwrap().remote_data.as_ref(), Some(raw));
    }

    #[test]
    fn maps_recorded_entries_to_engagements() {
        let body = fixture("entries_list.json");
        let task = to_engagement(&body["entries"][0], false).unwrap();
        assert_eq!(task.engagement_type, "task_completed");
        assert_eq!(task.activity_type.as_ref().unwrap().id, "-4");
        assert_eq!(task.start_time.as_deref(), Some("2015-12-07T16:54:27Z"));
        assert_eq!(task.account.as_ref().unwrap().id, "892");
        assert!(!is_note(&body["entries"][0]));
        let note = to_engagement(&body["entries"][1], false).unwrap();
        assert_eq!(note.engagement_type, "note");
        assert_eq!(
            note.attachments,
            vec![Attachment {
                id: "4".into(),
                filename: Some("works of William Shakespeare.pdf".into()),
                content_type: Some("application/pdf".into()),
                size: Some(5557452),
            }]
        );
    }

    #[test]
    fn engagement_types_of_emails_calls_and_custom_types() {
        let email = json!({
            "id": 1, "type": "email", "subject": "Re: quote", "activityType": null,
            "party": {"id": 892, "type": "organisation", "name": "Zestia"},
            "parties": [{"id": 11587, "type": "person", "firstName": "Scott", "lastName": "Spacey"},
                        {"id": 892, "type": "organisation", "name": "Zestia"}],
            "participants": [{"id": 1, "address": "scott@homestyleshop.co", "name": "Scott Spacey", "role": "FROM"}]
        });
        let e = to_engagement(&email, false).unwrap();
        assert_eq!(e.engagement_type, "email");
        assert_eq!(e.subject.as_deref(), Some("Re: quote"));
        assert_eq!(e.account.as_ref().unwrap().id, "892");
        assert_eq!(e.contacts.len(), 1);
        assert_eq!(e.contacts[0].name.as_deref(), Some("Scott Spacey"));
        assert_eq!(e.participants[0].role.as_deref(), Some("FROM"));
        let call = json!({"id": 2, "type": "note", "activityType": {"id": -3, "name": "Call"}});
        assert_eq!(to_engagement(&call, false).unwrap().engagement_type, "call");
        let demo = json!({"id": 3, "type": "note", "activityType": {"id": 101, "name": "Demo"}});
        assert_eq!(to_engagement(&demo, false).unwrap().engagement_type, "Demo");
        let bare = json!({"id": 4, "type": "note"});
        assert_eq!(to_engagement(&bare, false).unwrap().engagement_type, "note");
    }

    #[test]
    fn maps_the_recorded_activity_types() {
        let body = fixture("activity_types_list.json");
        let note = to_engagement_type(&body["activityTypes"][0], false).unwrap();
        assert_eq!(
            (note.id.as_str(), note.name.as_str(), note.kind.as_str()),
            ("-1", "Note", "note")
        );
        assert_eq!(note.updates_last_contacted, Some(false));
        let call = to_engagement_type(&body["activityTypes"][1], false).unwrap();
        assert_eq!((call.id.as_str(), call.kind.as_str()), ("-3", "call"));
        assert_eq!(call.updates_last_contacted, Some(true));
        let custom = to_engagement_type(&json!({"id": 101, "name": "Demo"}), false).unwrap();
        assert_eq!(custom.kind, "custom");
    }

    #[test]
    fn resolves_engagement_type_names() {
        let mut t = types();
        t.push(ActivityType {
            id: Some(101),
            name: Some("Demo".into()),
            ..Default::default()
        });
        assert_eq!(resolve_activity_type(&t, "call"), Ok(-3));
        assert_eq!(resolve_activity_type(&t, "Call"), Ok(-3));
        assert_eq!(resolve_activity_type(&t, "demo"), Ok(101));
        assert!(
            resolve_activity_type(&t, "email")
                .unwrap_err()
                .contains("cannot create")
        );
        let e = resolve_activity_type(&t, "meeting").unwrap_err();
        assert!(e.contains("Demo"), "lists the known names: {e}");
    }

    #[test]
    fn builds_the_recorded_create_body() {
        let recorded = fixture("entry_create_note.json");
        let mut remote = Map::new();
        remote.insert(
            "attachments".into(),
            recorded["entry"]["attachments"].clone(),
        );
        let body = entry_body(
            &EntryWrite {
                link: Some(Link::Party(11587)),
                content: Some("Met at the trade show"),
                entry_at: Some("2025-05-01T11:00:00+01:00"),
                entry_at_name: "occurred_at",
                activity_type_id: Some(-2),
                remote_data: Some(&remote),
            },
            true,
        )
        .unwrap();
        assert_eq!(Value::Object(body), recorded["entry"]);
    }

    #[test]
    fn write_rules() {
        let link = |a, c, o, p| LinkArgs {
            account_id: a,
            contact_id: c,
            opportunity_id: o,
            project_id: p,
        };
        assert!(one_link(link(None, None, None, None)).is_err());
        assert!(one_link(link(Some("1"), Some("2"), None, None)).is_err());
        assert!(one_link(link(Some("x"), None, None, None)).is_err());
        assert_eq!(
            one_link(link(None, None, None, Some("500"))),
            Ok(Link::Kase(500))
        );
        assert_eq!(at_most_one_link(link(None, None, None, None)), Ok(None));
        let no_content = EntryWrite {
            link: Some(Link::Opportunity(300)),
            ..Default::default()
        };
        assert!(entry_body(&no_content, true).is_err());
        let upd = EntryWrite {
            content: Some("changed"),
            entry_at: Some("yesterday"),
            entry_at_name: "occurred_at",
            ..Default::default()
        };
        assert!(entry_body(&upd, false).unwrap_err().contains("occurred_at"));
        let upd = EntryWrite {
            activity_type_id: Some(-3),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(entry_body(&upd, false).unwrap()),
            json!({"activityType": {"id": -3}})
        );
    }

    #[test]
    fn list_plans() {
        let r = list_request(Some(Link::Party(892)), 2, 50);
        assert_eq!(r.path, "/parties/892/entries");
        assert!(r.query.contains(&("page".into(), "2".into())));
        assert_eq!(
            list_request(Some(Link::Kase(5)), 1, 10).path,
            "/kases/5/entries"
        );
        assert_eq!(
            list_request(Some(Link::Opportunity(3)), 1, 10).path,
            "/opportunities/3/entries"
        );
        assert_eq!(list_request(None, 1, 100).path, "/entries");
        let after = chrono::DateTime::parse_from_rfc3339("2015-12-07T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let body = fixture("entries_list.json");
        assert!(updated_after(&body["entries"][0], &after));
        let later = after + chrono::Duration::days(1);
        assert!(!updated_after(&body["entries"][0], &later));
    }
}
