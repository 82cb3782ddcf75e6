//! `/tasks`.

use serde_json::{Map, Value};

use super::api::*;
use super::common::*;
use super::routes::Ctx;
use super::store::*;

const R: &str = "task";

pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let since = since_param(req, R)?;
    // `status` is a comma list of open|completed|pending; default open only.
    let mut statuses = Vec::new();
    for s in req.q("status").unwrap_or("open").split(',') {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        match s.to_lowercase().as_str() {
            "open" => statuses.push("OPEN"),
            "completed" => statuses.push("COMPLETED"),
            "pending" => statuses.push("PENDING"),
            _ => {
                return Err(invalid(
                    R,
                    Some("status"),
                    "status must be a list of open, completed or pending",
                ));
            }
        }
    }
    if statuses.is_empty() {
        statuses.push("OPEN");
    }
    let owner = match req.q("owner") {
        None => None,
        Some(o) => Some(parse_id(o).ok_or_else(|| invalid(R, Some("owner"), "owner: invalid id"))?),
    };
    let category = match req.q("category") {
        None => None,
        Some(o) => {
            Some(parse_id(o).ok_or_else(|| invalid(R, Some("category"), "category: invalid id"))?)
        }
    };
    let due_from = req
        .q("dueFrom")
        .map(|d| parse_date(d).ok_or_else(|| invalid(R, Some("dueFrom"), "dueFrom: invalid date")))
        .transpose()?;
    let due_to = req
        .q("dueTo")
        .map(|d| parse_date(d).ok_or_else(|| invalid(R, Some("dueTo"), "dueTo: invalid date")))
        .transpose()?;
    let items: Vec<&Task> = ctx
        .store
        .tasks
        .values()
        .filter(|t| statuses.contains(&t.status.as_str()))
        .filter(|t| since.is_none_or(|s| t.updated_at > s))
        .filter(|t| owner.is_none_or(|o| t.owner == Some(o)))
        .filter(|t| category.is_none_or(|c| t.category == Some(c)))
        .filter(|t| due_from.is_none_or(|d| t.due_on >= d))
        .filter(|t| due_to.is_none_or(|d| t.due_on <= d))
        .collect();
    paged(req, items, MAX_PER_PAGE, "tasks", |t| {
        ctx.store.render_task(t)
    })
}

pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let raw = req.param(0);
    let ids = parse_ids(raw, R, R)?;
    let mut out = Vec::new();
    for id in &ids {
        let t = ctx
            .store
            .tasks
            .get(id)
            .ok_or_else(|| not_found("task not found"))?;
        out.push(ctx.store.render_task(t));
    }
    if raw.contains(',') {
        Ok(unpaged("tasks", out))
    } else {
        Ok(Reply::ok(single(R, out.pop().unwrap_or(Value::Null))))
    }
}

pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let obj = req.envelope(R)?;
    let description = match get_text(&obj, "description", R)? {
        Some(Some(d)) => d,
        _ => return Err(invalid(R, Some("description"), "description is required")),
    };
    let due_on = match get_date(&obj, "dueOn", R)? {
        Some(Some(d)) => d,
        _ => return Err(invalid(R, Some("dueOn"), "dueOn is required")),
    };
    let mut t = Task {
        id: 0,
        description,
        detail: None,
        category: None,
        due_on,
        due_time: None,
        status: "OPEN".into(),
        party: None,
        opportunity: None,
        kase: None,
        owner: Some(ctx.user),
        completed_by: None,
        completed_at: None,
        repeat: Value::Null,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    t.id = ctx.store.alloc("task");
    let completed = apply(ctx, &mut t, &obj)?;
    let id = t.id;
    ctx.store.tasks.insert(id, t.clone());
    if completed {
        add_completion_entry(ctx, &t);
    }
    let body = single(R, ctx.store.render_task(&t));
    Ok(Reply::created(req.location("tasks", id), body))
}

pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let mut t = ctx
        .store
        .tasks
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("task not found"))?;
    let obj = req.envelope(R)?;
    if let Some(v) = get_text(&obj, "description", R)? {
        t.description =
            v.ok_or_else(|| invalid(R, Some("description"), "description is required"))?;
    }
    if let Some(v) = get_date(&obj, "dueOn", R)? {
        t.due_on = v.ok_or_else(|| invalid(R, Some("dueOn"), "dueOn is required"))?;
    }
    let completed = apply(ctx, &mut t, &obj)?;
    t.updated_at = ctx.now;
    ctx.store.tasks.insert(id, t.clone());
    if completed {
        add_completion_entry(ctx, &t);
    }
    Ok(Reply::ok(single(R, ctx.store.render_task(&t))))
}

/// Applies a task body; returns whether the task just became completed.
fn apply(ctx: &mut Ctx<'_>, t: &mut Task, obj: &Map<String, Value>) -> ApiResult<bool> {
    if let Some(v) = get_text(obj, "detail", R)? {
        t.detail = v;
    }
    if let Some(v) = get_text(obj, "dueTime", R)? {
        t.due_time = match v {
            None => None,
            Some(s) => Some(
                chrono::NaiveTime::parse_from_str(&s, "%H:%M:%S")
                    .or_else(|_| chrono::NaiveTime::parse_from_str(&s, "%H:%M"))
                    .map(|x| x.format("%H:%M:%S").to_string())
                    .map_err(|_| invalid(R, Some("dueTime"), "dueTime: invalid time"))?,
            ),
        };
    }
    match get_ref(obj, "category", R)? {
        None => {}
        Some(None) => t.category = None,
        Some(Some(r)) => {
            let cid = match r {
                RefArg::Id(id) => ctx.store.categories.get(&id).map(|c| c.id),
                RefArg::Name(n) => ctx
                    .store
                    .categories
                    .values()
                    .find(|c| c.name.eq_ignore_ascii_case(&n))
                    .map(|c| c.id),
            };
            t.category = Some(
                cid.ok_or_else(|| invalid(R, Some("category"), "category: category not found"))?,
            );
        }
    }
    match get_ref(obj, "owner", R)? {
        None => {}
        Some(None) => t.owner = None,
        Some(Some(r)) => t.owner = Some(user_ref(ctx.store, &r, R)?),
    }
    match get_ref(obj, "party", R)? {
        None => {}
        Some(None) => t.party = None,
        Some(Some(r)) => t.party = Some(party_ref(ctx.store, &r)?),
    }
    match get_ref(obj, "opportunity", R)? {
        None => {}
        Some(None) => t.opportunity = None,
        Some(Some(RefArg::Id(id))) if ctx.store.opportunities.contains_key(&id) => {
            t.opportunity = Some(id);
        }
        Some(Some(_)) => return Err(not_found("opportunity not found")),
    }
    match get_ref(obj, "kase", R)? {
        None => {}
        Some(None) => t.kase = None,
        Some(Some(RefArg::Id(id))) if ctx.store.kases.contains_key(&id) => t.kase = Some(id),
        Some(Some(_)) => return Err(not_found("kase not found")),
    }
    let links = [t.party.is_some(), t.opportunity.is_some(), t.kase.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if links > 1 {
        return Err(invalid(
            R,
            Some("party"),
            "task can be related to at most one entity",
        ));
    }
    match obj.get("repeat") {
        None => {}
        Some(v @ (Value::Null | Value::Object(_))) => t.repeat = v.clone(),
        Some(_) => return Err(invalid(R, Some("repeat"), "repeat: invalid type")),
    }
    let completed_at = get_ts(obj, "completedAt", R)?;
    let mut became_completed = false;
    match get_str(obj, "status", R)? {
        None => {}
        Some(Some(s)) if s.eq_ignore_ascii_case("COMPLETED") => {
            if t.status != "COMPLETED" {
                became_completed = true;
                t.status = "COMPLETED".into();
                t.completed_at = Some(completed_at.flatten().unwrap_or(ctx.now));
                t.completed_by = Some(ctx.user);
            }
        }
        Some(Some(s)) if s.eq_ignore_ascii_case("OPEN") => {
            t.status = "OPEN".into();
            t.completed_at = None;
            t.completed_by = None;
        }
        Some(Some(s)) if s.eq_ignore_ascii_case("PENDING") => {
            return Err(invalid(
                R,
                Some("status"),
                "cannot set task status to PENDING",
            ));
        }
        _ => {
            return Err(invalid(
                R,
                Some("status"),
                "status must be OPEN or COMPLETED",
            ));
        }
    }
    Ok(became_completed)
}

/// Completing a task adds a "Task completed" entry (activity type -4) to the
/// timeline of the record it is linked to.
fn add_completion_entry(ctx: &mut Ctx<'_>, t: &Task) {
    if t.party.is_none() && t.opportunity.is_none() && t.kase.is_none() {
        return;
    }
    let id = ctx.store.alloc("entry");
    let at = t.completed_at.unwrap_or(ctx.now);
    ctx.store.entries.insert(
        id,
        Entry {
            id,
            kind: "task".into(),
            creator: Some(ctx.user),
            activity_type: Some(-4),
            created_at: ctx.now,
            updated_at: ctx.now,
            entry_at: at,
            subject: None,
            content: Some(t.description.clone()),
            party: t.party,
            opportunity: t.opportunity,
            kase: t.kase,
            parties: vec![],
            participants: vec![],
            attachments: vec![],
        },
    );
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    if ctx.store.tasks.remove(&id).is_none() {
        return Err(not_found("task not found"));
    }
    Ok(Reply::no_content())
}
