//! `/opportunities`.

use serde_json::{Map, Value};

use super::api::*;
use super::common::*;
use super::routes::Ctx;
use super::store::*;

const R: &str = "opportunity";
const DURATION_BASES: &[&str] = &["FIXED", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"];

fn list_of(ctx: &mut Ctx<'_>, req: &Req, keep: impl Fn(&Opportunity) -> bool) -> ApiResult<Reply> {
    let embed = req.embed();
    let items: Vec<&Opportunity> = ctx
        .store
        .opportunities
        .values()
        .filter(|o| keep(o))
        .collect();
    paged(req, items, MAX_PER_PAGE, "opportunities", |o| {
        ctx.store.render_opportunity(o, embed)
    })
}

pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let since = since_param(req, R)?;
    list_of(ctx, req, |o| since.is_none_or(|s| o.updated_at > s))
}

pub(crate) fn search(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let q = req.q("q").unwrap_or("").trim().to_lowercase();
    list_of(ctx, req, |o| {
        q.is_empty()
            || contains_ci(&o.name, &q)
            || o.description.as_deref().is_some_and(|d| contains_ci(d, &q))
    })
}

pub(crate) fn of_party(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "party")?;
    if !ctx.store.parties.contains_key(&id) {
        return Err(not_found("party not found"));
    }
    list_of(ctx, req, |o| {
        o.party == id || o.additional_parties.contains(&id)
    })
}

pub(crate) fn deleted(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    deleted_feed(
        req,
        &ctx.store.deleted_opportunities,
        &[],
        Entity::Opportunities,
        "restrictedOpportunities",
    )
}

pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let embed = req.embed();
    let raw = req.param(0);
    let ids = parse_ids(raw, R, R)?;
    let mut out = Vec::new();
    for id in &ids {
        let o = ctx
            .store
            .opportunities
            .get(id)
            .ok_or_else(|| not_found("opportunity not found"))?;
        out.push(ctx.store.render_opportunity(o, embed));
    }
    if raw.contains(',') {
        Ok(unpaged("opportunities", out))
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
    let milestone = match get_ref(&obj, "milestone", R)? {
        Some(Some(r)) => milestone_ref(ctx.store, &r, None)?,
        _ => return Err(invalid(R, Some("milestone"), "milestone is required")),
    };
    let mut o = Opportunity {
        id: 0,
        name,
        description: None,
        party,
        milestone: 0,
        last_open_milestone: None,
        owner: Some(ctx.user),
        team: None,
        value: None,
        expected_close_on: None,
        probability: None,
        duration_basis: None,
        duration: None,
        closed_on: None,
        lost_reason: None,
        last_contacted_at: None,
        last_stage_changed_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        tags: vec![],
        fields: vec![],
        additional_parties: vec![],
    };
    move_to_milestone(ctx, &mut o, milestone);
    apply(ctx, &mut o, &obj)?;
    o.id = ctx.store.alloc("opportunity");
    let id = o.id;
    let body = single(R, ctx.store.render_opportunity(&o, req.embed()));
    ctx.store.opportunities.insert(id, o);
    Ok(Reply::created(req.location("opportunities", id), body))
}

pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let mut o = ctx
        .store
        .opportunities
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("opportunity not found"))?;
    let obj = req.envelope(R)?;
    if let Some(v) = get_text(&obj, "name", R)? {
        o.name = v.ok_or_else(|| invalid(R, Some("name"), "name is required"))?;
    }
    match get_ref(&obj, "party", R)? {
        None => {}
        Some(None) => return Err(invalid(R, Some("party"), "party is required")),
        Some(Some(r)) => o.party = party_ref(ctx.store, &r)?,
    }
    match get_ref(&obj, "milestone", R)? {
        None => {}
        Some(None) => return Err(invalid(R, Some("milestone"), "milestone is required")),
        Some(Some(r)) => {
            let current_pipeline = ctx.store.milestones.get(&o.milestone).map(|m| m.pipeline);
            let m = milestone_ref(ctx.store, &r, current_pipeline)?;
            if m != o.milestone {
                move_to_milestone(ctx, &mut o, m);
            }
        }
    }
    apply(ctx, &mut o, &obj)?;
    o.updated_at = ctx.now;
    let body = single(R, ctx.store.render_opportunity(&o, req.embed()));
    ctx.store.opportunities.insert(id, o);
    Ok(Reply::ok(body))
}

/// Resolves a milestone by id or by name (preferring the current pipeline).
fn milestone_ref(store: &Store, r: &RefArg, pipeline: Option<i64>) -> ApiResult<i64> {
    let found = match r {
        RefArg::Id(id) => store.milestones.get(id).map(|m| m.id),
        RefArg::Name(n) => {
            let mut matches = store
                .milestones
                .values()
                .filter(|m| m.name.eq_ignore_ascii_case(n));
            let all: Vec<&Milestone> = matches.by_ref().collect();
            all.iter()
                .find(|m| Some(m.pipeline) == pipeline)
                .or_else(|| all.first())
                .map(|m| m.id)
        }
    };
    found.ok_or_else(|| invalid(R, Some("milestone"), "milestone: milestone not found"))
}

/// Moves the opportunity to a milestone (possibly in another pipeline).
/// Complete milestones close it: `closedOn` today and the milestone's
/// probability (100 won / 0 lost); `lastOpenMilestone` keeps the last open one.
fn move_to_milestone(ctx: &Ctx<'_>, o: &mut Opportunity, milestone: i64) {
    let Some(m) = ctx.store.milestones.get(&milestone) else {
        return;
    };
    o.milestone = m.id;
    o.probability = Some(m.probability);
    o.last_stage_changed_at = Some(ctx.now);
    if m.complete {
        o.closed_on = Some(ctx.now.date_naive());
        if m.probability > 0 {
            o.lost_reason = None;
        }
    } else {
        o.closed_on = None;
        o.lost_reason = None;
        o.last_open_milestone = Some(m.id);
    }
}

fn apply(ctx: &mut Ctx<'_>, o: &mut Opportunity, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(v) = get_text(obj, "description", R)? {
        o.description = v;
    }
    match get_ref(obj, "owner", R)? {
        None => {}
        Some(None) => o.owner = None,
        Some(Some(r)) => o.owner = Some(user_ref(ctx.store, &r, R)?),
    }
    match get_ref(obj, "team", R)? {
        None => {}
        Some(None) => o.team = None,
        Some(Some(r)) => o.team = Some(team_ref(ctx.store, &r, R)?),
    }
    match obj.get("value") {
        None => {}
        Some(Value::Null) => o.value = None,
        Some(Value::Object(v)) => {
            let amount = match v.get("amount") {
                Some(Value::Number(n)) => n.clone(),
                Some(Value::String(s)) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .ok_or_else(|| {
                        invalid(R, Some("value.amount"), "value.amount: invalid type")
                    })?,
                _ => return Err(invalid(R, Some("value.amount"), "value.amount is required")),
            };
            let currency = match get_text(v, "currency", R)? {
                Some(Some(c)) => {
                    let c = c.to_uppercase();
                    if !ctx.store.currencies.contains(&c.as_str()) {
                        return Err(invalid(
                            R,
                            Some("value.currency"),
                            "value.currency: unknown currency",
                        ));
                    }
                    c
                }
                _ => o
                    .value
                    .as_ref()
                    .map(|(_, c)| c.clone())
                    .or_else(|| ctx.store.users.get(&ctx.user).map(|u| u.currency.clone()))
                    .unwrap_or_else(|| "GBP".into()),
            };
            o.value = Some((amount, currency));
        }
        Some(_) => return Err(invalid(R, Some("value"), "value: invalid type")),
    }
    if let Some(v) = get_date(obj, "expectedCloseOn", R)? {
        o.expected_close_on = v;
    }
    if let Some(v) = get_i64(obj, "probability", R)? {
        let closed = ctx
            .store
            .milestones
            .get(&o.milestone)
            .is_some_and(|m| m.complete);
        if closed && v != o.probability {
            return Err(invalid(
                R,
                Some("probability"),
                "probability can be updated only for open opportunity",
            ));
        }
        if let Some(p) = v
            && !(0..=100).contains(&p)
        {
            return Err(invalid(
                R,
                Some("probability"),
                "probability must be between 0 and 100",
            ));
        }
        o.probability = v;
    }
    if let Some(v) = get_text(obj, "durationBasis", R)? {
        if let Some(b) = &v
            && !DURATION_BASES.contains(&b.as_str())
        {
            return Err(invalid(
                R,
                Some("durationBasis"),
                "durationBasis: invalid value",
            ));
        }
        o.duration_basis = v;
    }
    if let Some(v) = get_i64(obj, "duration", R)? {
        o.duration = v;
    }
    if o.duration_basis.as_deref() == Some("FIXED") && o.duration.is_some() {
        return Err(invalid(
            R,
            Some("duration"),
            "duration must be null when durationBasis is FIXED",
        ));
    }
    match get_ref(obj, "lostReason", R)? {
        None => {}
        Some(None) => o.lost_reason = None,
        Some(Some(r)) => {
            let lid = match r {
                RefArg::Id(id) => ctx.store.lost_reasons.get(&id).map(|l| l.id),
                RefArg::Name(n) => ctx
                    .store
                    .lost_reasons
                    .values()
                    .find(|l| l.name.eq_ignore_ascii_case(&n))
                    .map(|l| l.id),
            }
            .ok_or_else(|| invalid(R, Some("lostReason"), "lostReason: lost reason not found"))?;
            let lost = ctx
                .store
                .milestones
                .get(&o.milestone)
                .is_some_and(|m| m.complete && m.probability == 0);
            if !lost {
                return Err(invalid(
                    R,
                    Some("lostReason"),
                    "lostReason can be set only for lost opportunity",
                ));
            }
            o.lost_reason = Some(lid);
        }
    }
    merge_tags_and_fields(
        ctx.store,
        Entity::Opportunities,
        obj,
        &mut o.tags,
        &mut o.fields,
    )
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    if ctx.store.opportunities.remove(&id).is_none() {
        return Err(not_found("opportunity not found"));
    }
    let now = ctx.now;
    let s = &mut *ctx.store;
    s.deleted_opportunities.push(Tombstone {
        id,
        deleted_at: now,
    });
    s.tasks.retain(|_, t| t.opportunity != Some(id));
    s.entries.retain(|_, e| e.opportunity != Some(id));
    for k in s.kases.values_mut() {
        if k.opportunity == Some(id) {
            k.opportunity = None;
        }
    }
    Ok(Reply::no_content())
}
