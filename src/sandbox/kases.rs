//! `/kases` (projects).

use serde_json::{Map, Value};

use super::api::*;
use super::common::*;
use super::routes::Ctx;
use super::store::*;

const R: &str = "kase";

fn list_of(ctx: &mut Ctx<'_>, req: &Req, keep: impl Fn(&Kase) -> bool) -> ApiResult<Reply> {
    let embed = req.embed();
    let status = req.q("status").map(str::to_uppercase);
    let items: Vec<&Kase> = ctx
        .store
        .kases
        .values()
        .filter(|k| keep(k))
        .filter(|k| {
            status
                .as_deref()
                .is_none_or(|s| s == "ALL" || k.status == s)
        })
        .collect();
    paged(req, items, MAX_PER_PAGE, "kases", |k| {
        ctx.store.render_kase(k, embed)
    })
}

pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let since = since_param(req, R)?;
    list_of(ctx, req, |k| since.is_none_or(|s| k.updated_at > s))
}

pub(crate) fn search(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let q = req.q("q").unwrap_or("").trim().to_lowercase();
    list_of(ctx, req, |k| {
        q.is_empty()
            || contains_ci(&k.name, &q)
            || k.description.as_deref().is_some_and(|d| contains_ci(d, &q))
    })
}

pub(crate) fn of_party(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "party")?;
    if !ctx.store.parties.contains_key(&id) {
        return Err(not_found("party not found"));
    }
    list_of(ctx, req, |k| {
        k.party == id || k.additional_parties.contains(&id)
    })
}

pub(crate) fn of_opportunity(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "opportunity")?;
    if !ctx.store.opportunities.contains_key(&id) {
        return Err(not_found("opportunity not found"));
    }
    list_of(ctx, req, |k| k.opportunity == Some(id))
}

pub(crate) fn deleted(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    deleted_feed(
        req,
        &ctx.store.deleted_kases,
        &[],
        Entity::Kases,
        "restrictedKases",
    )
}

pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let embed = req.embed();
    let raw = req.param(0);
    let ids = parse_ids(raw, R, R)?;
    let mut out = Vec::new();
    for id in &ids {
        let k = ctx
            .store
            .kases
            .get(id)
            .ok_or_else(|| not_found("kase not found"))?;
        out.push(ctx.store.render_kase(k, embed));
    }
    if raw.contains(',') {
        Ok(unpaged("kases", out))
    } else {
        Ok(Reply::ok(single(R, out.pop().unwrap_or(Value::Null))))
    }
}

pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let obj = req.envelope(R)?;
    let name = match get_text(&obj, "name", R)? {
        Some(Some(n)) => n,
        _ => return Err(invalid(R, Some("name"), "name is required")),
    };
    let party = match get_ref(&obj, "party", R)? {
        Some(Some(r)) => party_ref(ctx.store, &r)?,
        _ => return Err(invalid(R, Some("party"), "party is required")),
    };
    let mut k = Kase {
        id: 0,
        name,
        description: None,
        party,
        opportunity: None,
        status: "OPEN".into(),
        stage: None,
        // Capsule leaves the owner empty on create unless one is given.
        owner: None,
        team: None,
        expected_close_on: None,
        closed_on: None,
        start_on: None,
        last_contacted_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        tags: vec![],
        fields: vec![],
        additional_parties: vec![],
    };
    apply(ctx, &mut k, &obj)?;
    let (owner, team) = owner_team(ctx, &obj)?;
    k.owner = owner.flatten();
    k.team = team.flatten();
    // A board's default team wins over an owner on create.
    if let Some(bt) = k
        .stage
        .and_then(|s| ctx.store.stages.get(&s))
        .and_then(|s| ctx.store.boards.get(&s.board))
        .and_then(|b| b.team)
        && k.team.is_none()
    {
        k.team = Some(bt);
        k.owner = None;
    }
    check_owner_team(ctx, &k)?;
    k.id = ctx.store.alloc("kase");
    let id = k.id;
    let body = single(R, ctx.store.render_kase(&k, req.embed()));
    ctx.store.kases.insert(id, k);
    Ok(Reply::created(req.location("kases", id), body))
}

pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let mut k = ctx
        .store
        .kases
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("kase not found"))?;
    let obj = req.envelope(R)?;
    if let Some(v) = get_text(&obj, "name", R)? {
        k.name = v.ok_or_else(|| invalid(R, Some("name"), "name is required"))?;
    }
    match get_ref(&obj, "party", R)? {
        None => {}
        Some(None) => return Err(invalid(R, Some("party"), "party is required")),
        Some(Some(r)) => k.party = party_ref(ctx.store, &r)?,
    }
    apply(ctx, &mut k, &obj)?;
    // Owner/team pair rule: if either is in the body, both are rewritten and
    // the absent one becomes null.
    let (owner, team) = owner_team(ctx, &obj)?;
    if owner.is_some() || team.is_some() {
        k.owner = owner.flatten();
        k.team = team.flatten();
        if k.owner.is_none() && k.team.is_none() {
            return Err(invalid(R, Some("owner"), "owner or team is required"));
        }
    }
    check_owner_team(ctx, &k)?;
    k.updated_at = ctx.now;
    let body = single(R, ctx.store.render_kase(&k, req.embed()));
    ctx.store.kases.insert(id, k);
    Ok(Reply::ok(body))
}

type OwnerTeam = (Tri<i64>, Tri<i64>);

fn owner_team(ctx: &Ctx<'_>, obj: &Map<String, Value>) -> ApiResult<OwnerTeam> {
    let owner = match get_ref(obj, "owner", R)? {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(user_ref(ctx.store, &r, R)?)),
    };
    let team = match get_ref(obj, "team", R)? {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(team_ref(ctx.store, &r, R)?)),
    };
    Ok((owner, team))
}

fn check_owner_team(ctx: &Ctx<'_>, k: &Kase) -> ApiResult<()> {
    if let (Some(o), Some(t)) = (k.owner, k.team)
        && !ctx
            .store
            .teams
            .get(&t)
            .is_some_and(|t| t.members.contains(&o))
    {
        return Err(invalid(
            R,
            Some("owner"),
            "owner is not a member of the team",
        ));
    }
    Ok(())
}

fn apply(ctx: &mut Ctx<'_>, k: &mut Kase, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(v) = get_text(obj, "description", R)? {
        k.description = v;
    }
    match get_ref(obj, "opportunity", R)? {
        None => {}
        Some(None) => k.opportunity = None,
        Some(Some(RefArg::Id(id))) if ctx.store.opportunities.contains_key(&id) => {
            k.opportunity = Some(id);
        }
        Some(Some(_)) => return Err(not_found("opportunity not found")),
    }
    match get_ref(obj, "stage", R)? {
        None => {}
        Some(None) => k.stage = None,
        Some(Some(r)) => {
            let sid = match r {
                RefArg::Id(id) => ctx.store.stages.get(&id).map(|s| s.id),
                RefArg::Name(n) => ctx
                    .store
                    .stages
                    .values()
                    .find(|s| s.name.eq_ignore_ascii_case(&n))
                    .map(|s| s.id),
            };
            k.stage = Some(sid.ok_or_else(|| invalid(R, Some("stage"), "stage: stage not found"))?);
        }
    }
    match get_str(obj, "status", R)? {
        None => {}
        Some(Some(s)) if s.eq_ignore_ascii_case("OPEN") => {
            k.status = "OPEN".into();
            k.closed_on = None;
        }
        Some(Some(s)) if s.eq_ignore_ascii_case("CLOSED") => {
            if k.status != "CLOSED" {
                k.closed_on = Some(ctx.now.date_naive());
            }
            k.status = "CLOSED".into();
        }
        _ => return Err(invalid(R, Some("status"), "status must be OPEN or CLOSED")),
    }
    if let Some(v) = get_date(obj, "expectedCloseOn", R)? {
        k.expected_close_on = v;
    }
    if let Some(v) = get_date(obj, "closedOn", R)? {
        k.closed_on = v;
    }
    if let Some(v) = get_date(obj, "startOn", R)? {
        k.start_on = v;
    }
    merge_tags_and_fields(ctx.store, Entity::Kases, obj, &mut k.tags, &mut k.fields)
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    if ctx.store.kases.remove(&id).is_none() {
        return Err(not_found("kase not found"));
    }
    let now = ctx.now;
    let s = &mut *ctx.store;
    s.deleted_kases.push(Tombstone {
        id,
        deleted_at: now,
    });
    s.tasks.retain(|_, t| t.kase != Some(id));
    s.entries.retain(|_, e| e.kase != Some(id));
    Ok(Reply::no_content())
}
