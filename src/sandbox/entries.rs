//! `/entries` (timeline) and attachments.

use serde_json::{Map, Value, json};

use super::api::*;
use super::common::*;
use super::routes::Ctx;
use super::store::*;

const R: &str = "entry";

/// Newest `entryAt` first (ties: newest id first).
fn sorted<'a>(items: impl Iterator<Item = &'a Entry>) -> Vec<&'a Entry> {
    let mut v: Vec<&Entry> = items.collect();
    v.sort_by(|a, b| b.entry_at.cmp(&a.entry_at).then(b.id.cmp(&a.id)));
    v
}

pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let since = since_param(req, R)?;
    let items = sorted(
        ctx.store
            .entries
            .values()
            .filter(|e| since.is_none_or(|s| e.updated_at > s)),
    );
    paged(req, items, MAX_PER_PAGE, "entries", |e| {
        ctx.store.render_entry(e)
    })
}

pub(crate) fn of_record(ctx: &mut Ctx<'_>, req: &Req, entity: Entity) -> ApiResult<Reply> {
    let id = req.id(0, entity.singular())?;
    let exists = match entity {
        Entity::Parties => ctx.store.parties.contains_key(&id),
        Entity::Opportunities => ctx.store.opportunities.contains_key(&id),
        Entity::Kases => ctx.store.kases.contains_key(&id),
    };
    if !exists {
        return Err(not_found(format!("{} not found", entity.singular())));
    }
    let since = since_param(req, R)?;
    let items = sorted(ctx.store.entries.values().filter(|e| {
        let linked = match entity {
            Entity::Parties => e.party == Some(id) || e.parties.contains(&id),
            Entity::Opportunities => e.opportunity == Some(id),
            Entity::Kases => e.kase == Some(id),
        };
        linked && since.is_none_or(|s| e.updated_at > s)
    }));
    paged(req, items, MAX_ENTRIES_PER_PAGE, "entries", |e| {
        ctx.store.render_entry(e)
    })
}

pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    // No multi-show for entries (Capsule answers 404).
    let id = req.id(0, R)?;
    let e = ctx
        .store
        .entries
        .get(&id)
        .ok_or_else(|| not_found("entry not found"))?;
    Ok(Reply::ok(single(R, ctx.store.render_entry(e))))
}

pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let obj = req.envelope(R)?;
    match get_str(&obj, "type", R)? {
        Some(Some(t)) if t == "note" => {}
        Some(Some(_)) => return Err(invalid(R, Some("type"), "only note entries can be created")),
        _ => return Err(invalid(R, Some("type"), "type is required")),
    }
    let mut e = Entry {
        id: 0,
        kind: "note".into(),
        creator: Some(ctx.user),
        activity_type: Some(-1),
        created_at: ctx.now,
        updated_at: ctx.now,
        entry_at: ctx.now,
        subject: None,
        content: None,
        party: None,
        opportunity: None,
        kase: None,
        parties: vec![],
        participants: vec![],
        attachments: vec![],
    };
    if let Some(Some(r)) = get_ref(&obj, "party", R)? {
        e.party = Some(party_ref(ctx.store, &r)?);
    }
    match get_ref(&obj, "opportunity", R)? {
        Some(Some(RefArg::Id(id))) if ctx.store.opportunities.contains_key(&id) => {
            e.opportunity = Some(id);
        }
        Some(Some(_)) => return Err(not_found("opportunity not found")),
        _ => {}
    }
    match get_ref(&obj, "kase", R)? {
        Some(Some(RefArg::Id(id))) if ctx.store.kases.contains_key(&id) => e.kase = Some(id),
        Some(Some(_)) => return Err(not_found("kase not found")),
        _ => {}
    }
    let links = [e.party.is_some(), e.opportunity.is_some(), e.kase.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if links != 1 {
        return Err(invalid(
            R,
            Some("party"),
            "entry must be linked to either a party, opportunity or kase",
        ));
    }
    apply(ctx, &mut e, &obj)?;
    if let Some(items) = get_items(&obj, "attachments", R)? {
        for it in items {
            let token = match get_str(it, "token", R)? {
                Some(Some(t)) => t,
                _ => {
                    return Err(invalid(
                        R,
                        Some("attachments.token"),
                        "attachments.token is required",
                    ));
                }
            };
            let Some(mut a) = ctx.store.uploads.remove(&token) else {
                return Err(invalid(
                    R,
                    Some("attachments.token"),
                    "attachments.token: unknown upload token",
                ));
            };
            a.id = ctx.store.alloc("attachment");
            e.attachments.push(a.id);
            ctx.store.attachments.insert(a.id, a);
        }
    }
    if e.content.is_none() && e.attachments.is_empty() {
        return Err(invalid(R, Some("content"), "content is required"));
    }
    e.id = ctx.store.alloc("entry");
    let id = e.id;
    touch_last_contacted(ctx, &e);
    let body = single(R, ctx.store.render_entry(&e));
    ctx.store.entries.insert(id, e);
    Ok(Reply::created(req.location("entries", id), body))
}

fn apply(ctx: &mut Ctx<'_>, e: &mut Entry, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(v) = get_text(obj, "content", R)? {
        e.content = v;
    }
    if let Some(v) = get_text(obj, "subject", R)? {
        e.subject = v;
    }
    if let Some(v) = get_ts(obj, "entryAt", R)? {
        e.entry_at = v.unwrap_or(ctx.now);
    }
    match get_ref(obj, "activityType", R)? {
        None => {}
        Some(None) => e.activity_type = Some(-1),
        Some(Some(r)) => {
            let aid = match r {
                RefArg::Id(id) => ctx.store.activity_type(id).map(|a| a.id),
                RefArg::Name(n) => ctx
                    .store
                    .activity_types
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&n))
                    .map(|a| a.id),
            };
            e.activity_type = Some(aid.ok_or_else(|| {
                invalid(
                    R,
                    Some("activityType"),
                    "activityType: activity type not found",
                )
            })?);
        }
    }
    Ok(())
}

pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let mut e = ctx
        .store
        .entries
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("entry not found"))?;
    let obj = req.envelope(R)?;
    apply(ctx, &mut e, &obj)?;
    e.updated_at = ctx.now;
    touch_last_contacted(ctx, &e);
    let body = single(R, ctx.store.render_entry(&e));
    ctx.store.entries.insert(id, e);
    Ok(Reply::ok(body))
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let Some(e) = ctx.store.entries.remove(&id) else {
        return Err(not_found("entry not found"));
    };
    for a in e.attachments {
        ctx.store.attachments.remove(&a);
    }
    Ok(Reply::no_content())
}

/// `POST /attachments/upload`: raw bytes + `X-Attachment-Filename`.
pub(crate) fn upload(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let filename = req
        .headers
        .get("x-attachment-filename")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            invalid(
                "upload",
                Some("filename"),
                "X-Attachment-Filename header is required",
            )
        })?;
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let n = ctx.store.alloc("upload");
    let token = format!(
        "u1/e0/{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}/{}",
        fastrand::u32(..),
        n & 0xffff,
        fastrand::u16(..0x1000),
        fastrand::u16(..0x1000),
        fastrand::u64(..0x1_0000_0000_0000),
        url::form_urlencoded::byte_serialize(filename.as_bytes()).collect::<String>()
    );
    ctx.store.uploads.insert(
        token.clone(),
        Attachment {
            id: 0,
            filename,
            content_type,
            bytes: req.body.to_vec(),
        },
    );
    let mut reply = Reply::ok(json!({ "upload": { "token": token } }));
    reply.status = http::StatusCode::CREATED;
    Ok(reply)
}

/// `GET /attachments/{id}`: the file's bytes.
pub(crate) fn download(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "attachment")?;
    let a = ctx
        .store
        .attachments
        .get(&id)
        .ok_or_else(|| not_found("attachment not found"))?;
    let mut reply = Reply::no_content();
    reply.status = http::StatusCode::OK;
    reply.headers.push((
        "content-disposition",
        format!("attachment; filename=\"{}\"", a.filename.replace('"', "")),
    ));
    reply.raw = Some((a.content_type.clone(), a.bytes.clone()));
    Ok(reply)
}
