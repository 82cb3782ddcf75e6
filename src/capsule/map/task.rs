//! Tasks ⇄ tasks.

use serde_json::{Map, Value, json};

use super::{decode_err, format_timestamp, id_string, merge_remote, parse_id, party_ref, user_ref};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::TASKS,
    wire::{self, PartyType, Task as WireTask},
};
use crate::unified::{Ref, Task, task::TaskFields};

fn decode_task(raw: &Value) -> Result<WireTask, CapsuleError> {
    wire::decode::<WireTask>(raw).map_err(decode_err)
}

fn nested_ref(r: &Option<wire::NestedRef>) -> Option<Ref> {
    super::ref_of(r)
}

/// `completedBy` is documented as a username (a nested user is read too); it becomes a user
/// reference through the account's users. A username no user has keeps it as the name.
fn completed_by(v: &Value, users: &[Value]) -> Option<Ref> {
    let (id, username) = match v {
        Value::String(s) if !s.is_empty() => (None, Some(s.as_str())),
        Value::Object(m) => (
            m.get("id").and_then(Value::as_i64),
            m.get("username").and_then(Value::as_str),
        ),
        _ => return None,
    };
    let user = users.iter().find(|u| {
        id.is_some_and(|id| u.get("id").and_then(Value::as_i64) == Some(id))
            || username.is_some_and(|n| u.get("username").and_then(Value::as_str) == Some(n))
    });
    match user {
        Some(u) => Some(Ref {
            id: u.get("id").and_then(Value::as_i64)?.to_string(),
            name: u
                .get("name")
                .and_then(Value::as_str)
                .or(username)
                .map(str::to_owned),
        }),
        None => Some(Ref {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            name: username.map(str::to_owned),
        }),
    }
}

/// Whether mapping this task needs the users (to resolve `completedBy`).
pub fn needs_users(raw: &Value) -> bool {
    raw.get("completedBy").is_some_and(|v| !v.is_null())
}

pub fn to_task(raw: &Value, users: &[Value], include_raw: bool) -> Result<Task, CapsuleError> {
    let t = decode_task(raw)?;
    let party = party_ref(&t.party);
    let (account, contact) = match t.party.as_ref().and_then(|p| p.party_type) {
        Some(PartyType::Organisation) => (party, None),
        Some(PartyType::Person) => (None, party),
        _ => (None, None),
    };
    Ok(Task {
        id: id_string(t.id).unwrap_or_default(),
        subject: t.description.clone().unwrap_or_default(),
        content: t.detail.clone(),
        kind: t.category.as_ref().and_then(|c| {
            Some(Ref {
                id: c.id?.to_string(),
                name: c.name.clone(),
            })
        }),
        owner: user_ref(&t.owner),
        account,
        contact,
        opportunity: nested_ref(&t.opportunity),
        project: nested_ref(&t.kase),
        due_date: t.due_on.clone(),
        due_time: t.due_time.clone(),
        status: t.status.as_deref().map(str::to_ascii_lowercase),
        completed_at: t.completed_at.clone(),
        completed_by: completed_by(&t.completed_by, users),
        created_at: t.created_at.clone(),
        updated_at: t.updated_at.clone(),
        remote_data: include_raw.then(|| raw.clone()),
    })
}

// ---------------------------------------------------------------- writes

/// `HH:MM` or `HH:MM:SS` → Capsule's `HH:MM:SS`.
pub fn due_time(s: &str) -> Result<String, String> {
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M"))
        .map(|t| t.format("%H:%M:%S").to_string())
        .map_err(|_| format!("`due_time` must be HH:MM or HH:MM:SS; got \"{s}\""))
}

/// The one link a write sets (Capsule key and id), refusing more than one.
fn link(f: &TaskFields) -> Result<Option<(&'static str, i64)>, String> {
    let given: Vec<(&str, &'static str, &String)> = [
        ("account_id", "party", &f.account_id),
        ("contact_id", "party", &f.contact_id),
        ("opportunity_id", "opportunity", &f.opportunity_id),
        ("project_id", "kase", &f.project_id),
    ]
    .into_iter()
    .filter_map(|(arg, key, v)| v.as_ref().map(|v| (arg, key, v)))
    .collect();
    match given.as_slice() {
        [] => Ok(None),
        [(arg, key, id)] => Ok(Some((key, parse_id(arg, id)?))),
        _ => Err(format!(
            "a task links at most one record; got {}",
            given
                .iter()
                .map(|(a, _, _)| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Checks the parts of a write that need no lookup (before any request).
pub fn check(f: &TaskFields, create: bool) -> Result<(), String> {
    link(f)?;
    if f.type_name.is_some() && f.type_id.is_some() {
        return Err("give one of `type` or `type_id`".into());
    }
    if matches!(&f.type_name, Some(n) if n.trim().is_empty()) {
        return Err("`type` must not be empty".into());
    }
    task_body(f, None, create).map(|_| ())
}

/// The Capsule `task` body. `category` is the resolved `type` / `type_id` (`Some(None)` clears).
pub fn task_body(
    f: &TaskFields,
    category: Option<Option<i64>>,
    create: bool,
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    match &f.subject {
        Some(s) if s.trim().is_empty() => return Err("`subject` must not be empty".into()),
        Some(s) => {
            body.insert("description".into(), s.clone().into());
        }
        None if create => return Err("a task needs `subject` and `due_date`".into()),
        None => {}
    }
    match &f.due_date {
        Some(d) => {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| format!("`due_date` must be a date as YYYY-MM-DD; got \"{d}\""))?;
            body.insert("dueOn".into(), d.trim().into());
        }
        None if create => return Err("a task needs `due_date` (YYYY-MM-DD)".into()),
        None => {}
    }
    if let Some(c) = &f.content {
        body.insert(
            "detail".into(),
            c.clone().map_or(Value::Null, Value::String),
        );
    }
    if let Some(t) = &f.due_time {
        let v = match t {
            Some(t) => Value::String(due_time(t)?),
            None => Value::Null,
        };
        body.insert("dueTime".into(), v);
    }
    let category = match (&f.type_id, category) {
        (_, Some(c)) => Some(c),
        (Some(Some(id)), None) => Some(Some(parse_id("type_id", id)?)),
        (Some(None), None) => Some(None),
        (None, None) => None,
    };
    if let Some(c) = category {
        body.insert(
            "category".into(),
            c.map_or(Value::Null, |id| json!({ "id": id })),
        );
    }
    if let Some(o) = &f.owner_id {
        body.insert("owner".into(), json!({ "id": parse_id("owner_id", o)? }));
    }
    if let Some((key, id)) = link(f)? {
        if !create {
            // Capsule allows one link: setting one replaces whichever is there.
            for other in ["party", "opportunity", "kase"] {
                body.insert(other.into(), Value::Null);
            }
        }
        body.insert(key.into(), json!({ "id": id }));
    }
    if let Some(s) = &f.status {
        let wire = match s.trim().to_ascii_lowercase().as_str() {
            "completed" => "COMPLETED",
            "open" => "OPEN",
            "pending" => {
                return Err(
                    "`status: pending` cannot be set: Capsule marks tasks pending itself".into(),
                );
            }
            _ => {
                return Err(format!(
                    "`status` must be `completed` or `open`; got \"{s}\""
                ));
            }
        };
        body.insert("status".into(), wire.into());
    }
    merge_remote(&mut body, f.remote_data.as_ref())?;
    Ok(body)
}

// ---------------------------------------------------------------- lists

/// The filters of a task list, checked and typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Capsule's `status` list: `open`, `completed`, `pending`, comma-separated.
    pub status: Option<String>,
    pub owner_id: Option<i64>,
    pub account_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    pub project_id: Option<i64>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// `open|completed|pending|all` → Capsule's status list.
pub fn status_param(s: &str) -> Result<String, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "open" => Ok("open".into()),
        "completed" => Ok("completed".into()),
        "pending" => Ok("pending".into()),
        "all" => Ok("open,completed,pending".into()),
        _ => Err(format!(
            "`status` must be `open`, `completed`, `pending` or `all`; got \"{s}\""
        )),
    }
}

/// The one request for a page: `GET /tasks` with `status` (and the owner, which Capsule's own
/// clients send; it is checked on the page too). Links and `updated_after` are applied by
/// [`matches`]: Capsule has no task list per record.
pub fn list_request(q: &Query, page: u32, per_page: u32) -> Request {
    let mut req = Request::get(TASKS.path)
        .query("page", page.to_string())
        .query("perPage", per_page.to_string())
        .query("status", q.status.clone().unwrap_or_else(|| "open".into()));
    if let Some(owner) = q.owner_id {
        req = req.query("owner", owner.to_string());
    }
    req
}

pub fn matches(q: &Query, raw: &Value) -> bool {
    let Ok(t) = wire::decode::<WireTask>(raw) else {
        return false;
    };
    // By id alone: an account id given as `contact_id` (or the reverse) still finds the
    // party's tasks rather than an empty page.
    let party_is = |id: i64| t.party.as_ref().is_some_and(|p| p.id == Some(id));
    let checks = [
        q.owner_id
            .is_none_or(|id| t.owner.as_ref().and_then(|o| o.id) == Some(id)),
        q.account_id.is_none_or(party_is),
        q.contact_id.is_none_or(party_is),
        q.opportunity_id
            .is_none_or(|id| t.opportunity.as_ref().and_then(|o| o.id) == Some(id)),
        q.project_id
            .is_none_or(|id| t.kase.as_ref().and_then(|k| k.id) == Some(id)),
        q.updated_after
            .is_none_or(|after| super::updated_after(&t.updated_at, after)),
    ];
    !checks.contains(&false)
}

/// The filters as they are echoed in a cursor (the argument names of the list tool).
pub fn query_json(q: &Query, status_arg: Option<&str>) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    };
    put("status", status_arg.map(|s| s.trim().to_ascii_lowercase()));
    put("owner_id", id_string(q.owner_id));
    put("account_id", id_string(q.account_id));
    put("contact_id", id_string(q.contact_id));
    put("opportunity_id", id_string(q.opportunity_id));
    put("project_id", id_string(q.project_id));
    put(
        "updated_after",
        q.updated_after.as_ref().map(format_timestamp),
    );
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::capsule::map::fixture;

    #[test]
    fn maps_the_recorded_tasks() {
        let body = fixture("task_show_doc.json");
        let t = to_task(&body["task"], &[], false).unwrap();
        assert_eq!(t.id, "493");
        assert_eq!(t.subject, "Send quarterly invoice");
        assert_eq!(
            t.kind,
            Some(Ref {
                id: "47".into(),
                name: Some("Billing".into())
            })
        );
        assert_eq!(
            t.account.as_ref().unwrap().name.as_deref(),
            Some("ABC Furniture")
        );
        assert!(t.contact.is_none() && t.project.is_none());
        assert_eq!(
            t.owner.as_ref().unwrap().name.as_deref(),
            Some("Rupert Ada")
        );
        assert_eq!(t.due_date.as_deref(), Some("2015-10-01"));
        assert_eq!(t.status.as_deref(), Some("open"));
        assert!(t.remote_data.is_none());

        let body = fixture("task_create_response.json");
        let t = to_task(&body["task"], &[], true).unwrap();
        assert_eq!(t.id, "147248893");
        assert!(t.kind.is_none() && t.content.is_none() && t.completed_by.is_none());
        assert_eq!(t.owner.as_ref().unwrap().id, "674197");
        assert_eq!(t.remote_data.as_ref(), Some(&body["task"]));
    }

    #[test]
    fn maps_completion_and_links() {
        let raw = json!({"id": 1, "description": "x", "status": "COMPLETED",
            "completedAt": "2025-01-02T03:04:05Z", "completedBy": "ted",
            "kase": {"id": 500, "name": "Website build"}, "dueTime": "14:30:00"});
        let users = vec![json!({"id": 61, "username": "ted", "name": "Ted Danson"})];
        let t = to_task(&raw, &users, false).unwrap();
        assert_eq!(t.status.as_deref(), Some("completed"));
        let ted = Ref {
            id: "61".into(),
            name: Some("Ted Danson".into()),
        };
        assert_eq!(t.completed_by.as_ref(), Some(&ted));
        assert_eq!(t.project.as_ref().unwrap().id, "500");
        assert_eq!(t.due_time.as_deref(), Some("14:30:00"));
        let raw = json!({"id": 1, "completedBy": {"id": 61, "username": "ted"}});
        assert_eq!(
            to_task(&raw, &users, false).unwrap().completed_by,
            Some(ted)
        );
        // A username no user has is kept as the name.
        let raw = json!({"id": 1, "completedBy": "gone.user"});
        let by = to_task(&raw, &users, false).unwrap().completed_by.unwrap();
        assert_eq!(by.name.as_deref(), Some("gone.user"));
    }

    #[test]
    fn builds_write_bodies() {
        let f: TaskFields = serde_json::from_value(json!({
            "subject": "Call back", "content": "About the quote", "due_date": "2025-05-20",
            "due_time": "14:30", "type_id": "47", "contact_id": "11587", "owner_id": "61"
        }))
        .unwrap();
        check(&f, true).unwrap();
        assert_eq!(
            Value::Object(task_body(&f, None, true).unwrap()),
            json!({"description": "Call back", "detail": "About the quote",
                   "dueOn": "2025-05-20", "dueTime": "14:30:00", "category": {"id": 47},
                   "party": {"id": 11587}, "owner": {"id": 61}})
        );
        let upd: TaskFields = serde_json::from_value(json!({
            "status": "completed", "project_id": "500", "type": "Call", "due_time": null
        }))
        .unwrap();
        assert_eq!(
            Value::Object(task_body(&upd, Some(Some(48)), false).unwrap()),
            json!({"status": "COMPLETED", "kase": {"id": 500}, "party": null,
                   "opportunity": null, "category": {"id": 48}, "dueTime": null})
        );
    }

    #[test]
    fn refuses_bad_write_input() {
        let bad = |v: Value, create: bool| {
            let f: TaskFields = serde_json::from_value(v).unwrap();
            check(&f, create).is_err()
        };
        assert!(bad(json!({"due_date": "2025-01-01"}), true), "subject");
        assert!(bad(json!({"subject": "x"}), true), "due date");
        assert!(bad(json!({"subject": "x", "due_date": "01/01/2025"}), true));
        assert!(bad(json!({"due_time": "2pm"}), false));
        assert!(bad(json!({"account_id": "1", "project_id": "2"}), false));
        assert!(bad(json!({"status": "pending"}), false));
        assert!(bad(json!({"status": "done"}), false));
        assert!(bad(json!({"type": "Call", "type_id": "48"}), false));
        assert!(!bad(json!({"status": "Open"}), false));
    }

    #[test]
    fn list_plan_and_local_filters() {
        let q = Query {
            status: Some(status_param("all").unwrap()),
            owner_id: Some(61),
            ..Default::default()
        };
        let r = list_request(&q, 2, 10);
        assert_eq!(r.path, "/tasks");
        assert!(
            r.query
                .contains(&("status".into(), "open,completed,pending".into()))
        );
        assert!(r.query.contains(&("owner".into(), "61".into())));
        let r = list_request(&Query::default(), 1, 50);
        assert!(r.query.contains(&("status".into(), "open".into())));
        assert!(status_param("done").is_err());

        let body = fixture("task_show_doc.json");
        let raw = &body["task"];
        assert!(matches(&Query::default(), raw));
        let q = |f: fn(&mut Query)| {
            let mut q = Query::default();
            f(&mut q);
            q
        };
        assert!(matches(&q(|q| q.account_id = Some(448322)), raw));
        // By id alone: the party's tasks are found whichever of the two arguments names it.
        assert!(matches(&q(|q| q.contact_id = Some(448322)), raw));
        assert!(!matches(&q(|q| q.account_id = Some(448323)), raw));
        assert!(!matches(&q(|q| q.project_id = Some(1)), raw));
        assert!(matches(&q(|q| q.owner_id = Some(1)), raw));
        assert!(!matches(&q(|q| q.owner_id = Some(2)), raw));
        let later = chrono::DateTime::parse_from_rfc3339("2016-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert!(!matches(&q(|_| {}).clone_with_after(later), raw));
    }

    impl Query {
        fn clone_with_after(&self, t: chrono::DateTime<chrono::Utc>) -> Query {
            Query {
                updated_after: Some(t),
                ..self.clone()
            }
        }
    }
}
