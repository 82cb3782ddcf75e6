//! Users, teams, custom field definitions, tags and the account set-up
//! resources (pipelines, milestones, lost reasons, boards, stages, task
//! categories, activity types, titles), plus countries, currencies and site.

use serde_json::{Map, Value, json};

use super::api::*;
use super::routes::Ctx;
use super::store::*;

fn required_name(obj: &Map<String, Value>, key: &str, resource: &str) -> ApiResult<String> {
    match get_text(obj, key, resource)? {
        Some(Some(n)) if !n.trim().is_empty() => Ok(n.trim().to_string()),
        _ => Err(invalid(resource, Some(key), format!("{key} is required"))),
    }
}

fn optional_name(obj: &Map<String, Value>, key: &str, resource: &str) -> ApiResult<Option<String>> {
    match get_text(obj, key, resource)? {
        None => Ok(None),
        Some(Some(n)) if !n.trim().is_empty() => Ok(Some(n.trim().to_string())),
        Some(_) => Err(invalid(resource, Some(key), format!("{key} is required"))),
    }
}

// ---------------------------------------------------------------------------
// Users and teams

/// `embed=party` on the users routes.
fn embeds_party(req: &Req) -> bool {
    req.q("embed")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "party"))
}

pub(crate) fn users(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let embed_party = embeds_party(req);
    let v = ctx
        .store
        .users
        .values()
        .map(|u| ctx.store.render_user(u, embed_party))
        .collect();
    Ok(unpaged("users", v))
}

pub(crate) fn current_user(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let u = ctx
        .store
        .users
        .get(&ctx.user)
        .ok_or_else(|| not_found("user not found"))?;
    Ok(Reply::ok(single(
        "user",
        ctx.store.render_user(u, embeds_party(req)),
    )))
}

pub(crate) fn user(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "user")?;
    let u = ctx
        .store
        .users
        .get(&id)
        .ok_or_else(|| not_found("user not found"))?;
    Ok(Reply::ok(single(
        "user",
        ctx.store.render_user(u, embeds_party(req)),
    )))
}

pub(crate) fn teams(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let embed = req.embed();
    let v = ctx
        .store
        .teams
        .values()
        .map(|t| ctx.store.render_team(t, embed))
        .collect();
    Ok(unpaged("teams", v))
}

pub(crate) fn team(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "team")?;
    let t = ctx
        .store
        .teams
        .get(&id)
        .ok_or_else(|| not_found("team not found"))?;
    Ok(Reply::ok(single(
        "team",
        ctx.store.render_team(t, req.embed()),
    )))
}

// ---------------------------------------------------------------------------
// Custom field definitions

fn definition_of(ctx: &Ctx<'_>, req: &Req, e: Entity) -> ApiResult<i64> {
    let id = req.id(0, "definition")?;
    ctx.store
        .definitions
        .get(&id)
        .filter(|d| d.entity == e)
        .map(|d| d.id)
        .ok_or_else(|| not_found("definition not found"))
}

pub(crate) fn list_definitions(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let include_data_tag = req.q("includeDataTagFields") != Some("false");
    let mut items: Vec<&Definition> = ctx
        .store
        .definitions
        .values()
        .filter(|d| d.entity == e && (include_data_tag || d.tag.is_none()))
        .collect();
    items.sort_by_key(|d| (d.display_order, d.id));
    paged(req, items, MAX_PER_PAGE, "definitions", |d| {
        ctx.store.render_definition(d)
    })
}

pub(crate) fn show_definition(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let id = definition_of(ctx, req, e)?;
    let d = ctx
        .store
        .definitions
        .get(&id)
        .ok_or_else(|| not_found("definition not found"))?;
    Ok(Reply::ok(single(
        "definition",
        ctx.store.render_definition(d),
    )))
}

pub(crate) fn create_definition(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("definition")?;
    let name = required_name(&obj, "name", "definition")?;
    let kind = match get_str(&obj, "type", "definition")? {
        Some(Some(t)) if FIELD_TYPES.contains(&t.to_lowercase().as_str()) => t.to_lowercase(),
        Some(Some(_)) => {
            return Err(invalid(
                "definition",
                Some("type"),
                "type is not a valid field type",
            ));
        }
        _ => return Err(invalid("definition", Some("type"), "type is required")),
    };
    let display_order = ctx
        .store
        .definitions
        .values()
        .filter(|d| d.entity == e)
        .map(|d| d.display_order)
        .max()
        .unwrap_or(0)
        + 1;
    let mut d = Definition {
        id: 0,
        entity: e,
        name,
        kind,
        description: None,
        important: false,
        display_order,
        capture_rule: None,
        options: vec![],
        tag: None,
    };
    apply_definition(ctx, &mut d, &obj)?;
    if d.kind == "list" && d.options.is_empty() {
        return Err(invalid(
            "definition",
            Some("options"),
            "options are required for a list field",
        ));
    }
    if let Some(tid) = get_ref(&obj, "tag", "definition")?.flatten() {
        let tid = match tid {
            RefArg::Id(id) => ctx
                .store
                .tags
                .get(&id)
                .filter(|t| t.entity == e)
                .map(|t| t.id),
            RefArg::Name(n) => ctx
                .store
                .tags
                .values()
                .find(|t| t.entity == e && t.name.eq_ignore_ascii_case(&n))
                .map(|t| t.id),
        }
        .ok_or_else(|| not_found("tag not found"))?;
        if let Some(t) = ctx.store.tags.get_mut(&tid) {
            t.data_tag = true;
        }
        d.tag = Some(tid);
    }
    d.id = ctx.store.alloc("definition");
    let id = d.id;
    let body = single("definition", ctx.store.render_definition(&d));
    ctx.store.definitions.insert(id, d);
    Ok(Reply::created(
        req.location(&format!("{}/fields/definitions", e.segment()), id),
        body,
    ))
}

fn apply_definition(ctx: &Ctx<'_>, d: &mut Definition, obj: &Map<String, Value>) -> ApiResult<()> {
    const R: &str = "definition";
    if let Some(n) = optional_name(obj, "name", R)? {
        d.name = n;
    }
    if let Some(v) = get_text(obj, "description", R)? {
        d.description = v;
    }
    if let Some(v) = get_bool(obj, "important", R)? {
        d.important = v.unwrap_or(false);
    }
    if let Some(Some(v)) = get_i64(obj, "displayOrder", R)? {
        d.display_order = v;
    }
    match get_str(obj, "captureRule", R)? {
        None => {}
        Some(None) => d.capture_rule = None,
        Some(Some(c)) => {
            let c = c.to_lowercase();
            if d.entity != Entity::Parties {
                return Err(invalid(
                    R,
                    Some("captureRule"),
                    "captureRule is only valid for parties",
                ));
            }
            if c != "person" && c != "organisation" {
                return Err(invalid(
                    R,
                    Some("captureRule"),
                    "captureRule must be person or organisation",
                ));
            }
            d.capture_rule = Some(c);
        }
    }
    match obj.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            let mut opts = Vec::new();
            for o in a {
                match o {
                    Value::String(s) if !s.trim().is_empty() => opts.push(s.trim().to_string()),
                    _ => {
                        return Err(invalid(
                            R,
                            Some("options"),
                            "options must be a list of strings",
                        ));
                    }
                }
            }
            if d.kind != "list" {
                return Err(invalid(
                    R,
                    Some("options"),
                    "options are only valid for a list field",
                ));
            }
            d.options = opts;
        }
        Some(_) => {
            return Err(invalid(
                R,
                Some("options"),
                "options must be a list of strings",
            ));
        }
    }
    let _ = ctx;
    Ok(())
}

pub(crate) fn update_definition(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = definition_of(ctx, req, e)?;
    let obj = req.envelope("definition")?;
    let mut d = ctx
        .store
        .definitions
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("definition not found"))?;
    if let Some(Some(t)) = get_str(&obj, "type", "definition")?
        && !t.eq_ignore_ascii_case(&d.kind)
    {
        return Err(invalid(
            "definition",
            Some("type"),
            "type cannot be changed",
        ));
    }
    apply_definition(ctx, &mut d, &obj)?;
    let body = single("definition", ctx.store.render_definition(&d));
    ctx.store.definitions.insert(id, d);
    Ok(Reply::ok(body))
}

pub(crate) fn delete_definition(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = definition_of(ctx, req, e)?;
    let s = &mut *ctx.store;
    s.definitions.remove(&id);
    for p in s.parties.values_mut() {
        p.fields.retain(|f| f.definition != id);
    }
    for o in s.opportunities.values_mut() {
        o.fields.retain(|f| f.definition != id);
    }
    for k in s.kases.values_mut() {
        k.fields.retain(|f| f.definition != id);
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Tags

fn tag_of(ctx: &Ctx<'_>, req: &Req, e: Entity) -> ApiResult<i64> {
    let id = req.id(0, "tag")?;
    ctx.store
        .tags
        .get(&id)
        .filter(|t| t.entity == e)
        .map(|t| t.id)
        .ok_or_else(|| not_found("tag not found"))
}

pub(crate) fn list_tags(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let items: Vec<&Tag> = ctx.store.tags.values().filter(|t| t.entity == e).collect();
    paged(req, items, MAX_PER_PAGE, "tags", |t| {
        ctx.store.render_tag(t)
    })
}

pub(crate) fn show_tag(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let id = tag_of(ctx, req, e)?;
    let t = ctx
        .store
        .tags
        .get(&id)
        .ok_or_else(|| not_found("tag not found"))?;
    Ok(Reply::ok(single("tag", ctx.store.render_tag(t))))
}

pub(crate) fn tag_definitions(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let id = tag_of(ctx, req, e)?;
    let items: Vec<&Definition> = ctx
        .store
        .definitions
        .values()
        .filter(|d| d.tag == Some(id))
        .collect();
    paged(req, items, MAX_PER_PAGE, "definitions", |d| {
        ctx.store.render_definition(d)
    })
}

pub(crate) fn create_tag(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let obj = req.envelope("tag")?;
    let name = required_name(&obj, "name", "tag")?;
    if ctx
        .store
        .tags
        .values()
        .any(|t| t.entity == e && t.name.eq_ignore_ascii_case(&name))
    {
        return Err(invalid("tag", Some("name"), "name has already been taken"));
    }
    let t = Tag {
        id: ctx.store.alloc("tag"),
        entity: e,
        name,
        description: get_text(&obj, "description", "tag")?.flatten(),
        data_tag: get_bool(&obj, "dataTag", "tag")?.flatten().unwrap_or(false),
    };
    let id = t.id;
    let body = single("tag", ctx.store.render_tag(&t));
    ctx.store.tags.insert(id, t);
    Ok(Reply::created(
        req.location(&format!("{}/tags", e.segment()), id),
        body,
    ))
}

pub(crate) fn update_tag(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let id = tag_of(ctx, req, e)?;
    let obj = req.envelope("tag")?;
    let name = optional_name(&obj, "name", "tag")?;
    if let Some(n) = &name
        && ctx
            .store
            .tags
            .values()
            .any(|t| t.entity == e && t.id != id && t.name.eq_ignore_ascii_case(n))
    {
        return Err(invalid("tag", Some("name"), "name has already been taken"));
    }
    let description = get_text(&obj, "description", "tag")?;
    let data_tag = get_bool(&obj, "dataTag", "tag")?;
    let t = ctx
        .store
        .tags
        .get_mut(&id)
        .ok_or_else(|| not_found("tag not found"))?;
    if let Some(n) = name {
        t.name = n;
    }
    if let Some(d) = description {
        t.description = d;
    }
    if let Some(Some(d)) = data_tag {
        t.data_tag = d;
    }
    let t = t.clone();
    Ok(Reply::ok(single("tag", ctx.store.render_tag(&t))))
}

pub(crate) fn delete_tag(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let id = tag_of(ctx, req, e)?;
    let s = &mut *ctx.store;
    s.tags.remove(&id);
    for p in s.parties.values_mut() {
        p.tags.retain(|t| *t != id);
    }
    for o in s.opportunities.values_mut() {
        o.tags.retain(|t| *t != id);
    }
    for k in s.kases.values_mut() {
        k.tags.retain(|t| *t != id);
    }
    for d in s.definitions.values_mut() {
        if d.tag == Some(id) {
            d.tag = None;
        }
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Pipelines and milestones

pub(crate) fn list_pipelines(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let items: Vec<&Pipeline> = ctx.store.pipelines.values().collect();
    paged(req, items, MAX_PER_PAGE, "pipelines", |p| {
        ctx.store.render_pipeline(p)
    })
}

pub(crate) fn show_pipeline(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let raw = req.param(0);
    let ids = parse_ids(raw, "pipeline", "pipeline")?;
    let mut out = Vec::new();
    for id in &ids {
        let p = ctx
            .store
            .pipelines
            .get(id)
            .ok_or_else(|| not_found("pipeline not found"))?;
        out.push(ctx.store.render_pipeline(p));
    }
    if raw.contains(',') {
        Ok(unpaged("pipelines", out))
    } else {
        Ok(Reply::ok(single(
            "pipeline",
            out.pop().unwrap_or(Value::Null),
        )))
    }
}

pub(crate) fn create_pipeline(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("pipeline")?;
    let p = Pipeline {
        id: ctx.store.alloc("pipeline"),
        name: required_name(&obj, "name", "pipeline")?,
        description: get_text(&obj, "description", "pipeline")?.flatten(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let id = p.id;
    // Every pipeline gets a Won and a Lost milestone.
    for (name, prob) in [("Won", 100), ("Lost", 0)] {
        let mid = ctx.store.alloc("milestone");
        ctx.store.milestones.insert(
            mid,
            Milestone {
                id: mid,
                name: name.into(),
                description: None,
                complete: true,
                probability: prob,
                days_until_stale: None,
                pipeline: id,
                created_at: ctx.now,
                updated_at: ctx.now,
            },
        );
    }
    let body = single("pipeline", ctx.store.render_pipeline(&p));
    ctx.store.pipelines.insert(id, p);
    Ok(Reply::created(req.location("pipelines", id), body))
}

pub(crate) fn update_pipeline(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "pipeline")?;
    let obj = req.envelope("pipeline")?;
    let name = optional_name(&obj, "name", "pipeline")?;
    let description = get_text(&obj, "description", "pipeline")?;
    let now = ctx.now;
    let p = ctx
        .store
        .pipelines
        .get_mut(&id)
        .ok_or_else(|| not_found("pipeline not found"))?;
    if let Some(n) = name {
        p.name = n;
    }
    if let Some(d) = description {
        p.description = d;
    }
    p.updated_at = now;
    let p = p.clone();
    Ok(Reply::ok(single("pipeline", ctx.store.render_pipeline(&p))))
}

pub(crate) fn delete_pipeline(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "pipeline")?;
    if !ctx.store.pipelines.contains_key(&id) {
        return Err(not_found("pipeline not found"));
    }
    let in_use = ctx.store.opportunities.values().any(|o| {
        ctx.store
            .milestones
            .get(&o.milestone)
            .is_some_and(|m| m.pipeline == id)
    });
    if in_use {
        return Err(invalid("pipeline", None, "pipeline has opportunities"));
    }
    ctx.store.pipelines.remove(&id);
    ctx.store.milestones.retain(|_, m| m.pipeline != id);
    Ok(Reply::no_content())
}

pub(crate) fn pipeline_milestones(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "pipeline")?;
    if !ctx.store.pipelines.contains_key(&id) {
        return Err(not_found("pipeline not found"));
    }
    milestones_of(ctx, req, id)
}

fn milestones_of(ctx: &mut Ctx<'_>, req: &Req, pipeline: i64) -> ApiResult<Reply> {
    let items: Vec<&Milestone> = ctx
        .store
        .milestones
        .values()
        .filter(|m| m.pipeline == pipeline)
        .collect();
    paged(req, items, MAX_PER_PAGE, "milestones", |m| {
        ctx.store.render_milestone(m)
    })
}

/// `GET /milestones`: only the oldest pipeline's milestones (legacy).
pub(crate) fn list_milestones(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let oldest = ctx
        .store
        .pipelines
        .values()
        .min_by_key(|p| (p.created_at, p.id))
        .map(|p| p.id);
    match oldest {
        Some(p) => milestones_of(ctx, req, p),
        None => paged(
            req,
            Vec::<Value>::new(),
            MAX_PER_PAGE,
            "milestones",
            Clone::clone,
        ),
    }
}

pub(crate) fn show_milestone(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "milestone")?;
    let m = ctx
        .store
        .milestones
        .get(&id)
        .ok_or_else(|| not_found("milestone not found"))?;
    Ok(Reply::ok(single(
        "milestone",
        ctx.store.render_milestone(m),
    )))
}

fn apply_milestone(ctx: &Ctx<'_>, m: &mut Milestone, obj: &Map<String, Value>) -> ApiResult<()> {
    const R: &str = "milestone";
    if let Some(n) = optional_name(obj, "name", R)? {
        m.name = n;
    }
    if let Some(v) = get_text(obj, "description", R)? {
        m.description = v;
    }
    if let Some(v) = get_bool(obj, "complete", R)? {
        m.complete = v.unwrap_or(false);
    }
    if let Some(v) = get_i64(obj, "probability", R)? {
        let v = v.unwrap_or(0);
        if !(0..=100).contains(&v) {
            return Err(invalid(
                R,
                Some("probability"),
                "probability must be between 0 and 100",
            ));
        }
        m.probability = v;
    }
    if let Some(v) = get_i64(obj, "daysUntilStale", R)? {
        m.days_until_stale = v;
    }
    match get_ref(obj, "pipeline", R)? {
        None | Some(None) => {}
        Some(Some(RefArg::Id(id))) if ctx.store.pipelines.contains_key(&id) => m.pipeline = id,
        Some(Some(_)) => return Err(not_found("pipeline not found")),
    }
    if m.complete {
        m.days_until_stale = None;
    }
    Ok(())
}

pub(crate) fn create_milestone(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("milestone")?;
    let default_pipeline = ctx
        .store
        .pipelines
        .values()
        .min_by_key(|p| (p.created_at, p.id))
        .map(|p| p.id)
        .ok_or_else(|| invalid("milestone", Some("pipeline"), "pipeline is required"))?;
    let mut m = Milestone {
        id: 0,
        name: required_name(&obj, "name", "milestone")?,
        description: None,
        complete: false,
        probability: 0,
        days_until_stale: None,
        pipeline: default_pipeline,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply_milestone(ctx, &mut m, &obj)?;
    m.id = ctx.store.alloc("milestone");
    let id = m.id;
    let body = single("milestone", ctx.store.render_milestone(&m));
    ctx.store.milestones.insert(id, m);
    Ok(Reply::created(req.location("milestones", id), body))
}

pub(crate) fn update_milestone(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "milestone")?;
    let obj = req.envelope("milestone")?;
    let mut m = ctx
        .store
        .milestones
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("milestone not found"))?;
    apply_milestone(ctx, &mut m, &obj)?;
    m.updated_at = ctx.now;
    let body = single("milestone", ctx.store.render_milestone(&m));
    ctx.store.milestones.insert(id, m);
    Ok(Reply::ok(body))
}

pub(crate) fn delete_milestone(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "milestone")?;
    if !ctx.store.milestones.contains_key(&id) {
        return Err(not_found("milestone not found"));
    }
    if ctx.store.opportunities.values().any(|o| o.milestone == id) {
        return Err(invalid("milestone", None, "milestone has opportunities"));
    }
    ctx.store.milestones.remove(&id);
    for o in ctx.store.opportunities.values_mut() {
        if o.last_open_milestone == Some(id) {
            o.last_open_milestone = None;
        }
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Lost reasons

pub(crate) fn list_lost_reasons(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let items: Vec<&LostReason> = ctx.store.lost_reasons.values().collect();
    paged(req, items, MAX_PER_PAGE, "lostReasons", |l| {
        ctx.store.render_lost_reason(l)
    })
}

pub(crate) fn show_lost_reason(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "lostReason")?;
    let l = ctx
        .store
        .lost_reasons
        .get(&id)
        .ok_or_else(|| not_found("lostReason not found"))?;
    Ok(Reply::ok(single(
        "lostReason",
        ctx.store.render_lost_reason(l),
    )))
}

pub(crate) fn create_lost_reason(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("lostReason")?;
    let l = LostReason {
        id: 0,
        name: required_name(&obj, "name", "lostReason")?,
        included_for_conversion: get_bool(&obj, "includedForConversion", "lostReason")?
            .flatten()
            .unwrap_or(true),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let id = ctx.store.alloc("lostReason");
    let l = LostReason { id, ..l };
    let body = single("lostReason", ctx.store.render_lost_reason(&l));
    ctx.store.lost_reasons.insert(id, l);
    Ok(Reply::created(req.location("lostreasons", id), body))
}

pub(crate) fn update_lost_reason(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "lostReason")?;
    let obj = req.envelope("lostReason")?;
    let name = optional_name(&obj, "name", "lostReason")?;
    let conv = get_bool(&obj, "includedForConversion", "lostReason")?;
    let now = ctx.now;
    let l = ctx
        .store
        .lost_reasons
        .get_mut(&id)
        .ok_or_else(|| not_found("lostReason not found"))?;
    if let Some(n) = name {
        l.name = n;
    }
    if let Some(Some(c)) = conv {
        l.included_for_conversion = c;
    }
    l.updated_at = now;
    let l = l.clone();
    Ok(Reply::ok(single(
        "lostReason",
        ctx.store.render_lost_reason(&l),
    )))
}

pub(crate) fn delete_lost_reason(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "lostReason")?;
    if ctx.store.lost_reasons.remove(&id).is_none() {
        return Err(not_found("lostReason not found"));
    }
    for o in ctx.store.opportunities.values_mut() {
        if o.lost_reason == Some(id) {
            o.lost_reason = None;
        }
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Boards and stages

pub(crate) fn list_boards(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let q = req.q("q").unwrap_or("").to_lowercase();
    let items: Vec<&Board> = ctx
        .store
        .boards
        .values()
        .filter(|b| q.is_empty() || b.name.to_lowercase().contains(&q))
        .collect();
    paged(req, items, MAX_PER_PAGE, "boards", |b| {
        ctx.store.render_board(b)
    })
}

pub(crate) fn show_board(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "board")?;
    let b = ctx
        .store
        .boards
        .get(&id)
        .ok_or_else(|| not_found("board not found"))?;
    Ok(Reply::ok(single("board", ctx.store.render_board(b))))
}

pub(crate) fn create_board(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("board")?;
    let name = required_name(&obj, "name", "board")?;
    let description = get_text(&obj, "description", "board")?.flatten();
    let team = match get_ref(&obj, "team", "board")? {
        Some(Some(r)) => Some(super::common::team_ref(ctx.store, &r, "board")?),
        _ => None,
    };
    let b = Board {
        id: ctx.store.alloc("board"),
        name,
        description,
        team,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    let id = b.id;
    let body = single("board", ctx.store.render_board(&b));
    ctx.store.boards.insert(id, b);
    Ok(Reply::created(req.location("boards", id), body))
}

pub(crate) fn update_board(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "board")?;
    let obj = req.envelope("board")?;
    let name = optional_name(&obj, "name", "board")?;
    let description = get_text(&obj, "description", "board")?;
    let now = ctx.now;
    let b = ctx
        .store
        .boards
        .get_mut(&id)
        .ok_or_else(|| not_found("board not found"))?;
    if let Some(n) = name {
        b.name = n;
    }
    if let Some(d) = description {
        b.description = d;
    }
    b.updated_at = now;
    let b = b.clone();
    Ok(Reply::ok(single("board", ctx.store.render_board(&b))))
}

pub(crate) fn delete_board(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "board")?;
    if !ctx.store.boards.contains_key(&id) {
        return Err(not_found("board not found"));
    }
    let stages: Vec<i64> = ctx
        .store
        .stages
        .values()
        .filter(|s| s.board == id)
        .map(|s| s.id)
        .collect();
    if ctx
        .store
        .kases
        .values()
        .any(|k| k.stage.is_some_and(|s| stages.contains(&s)))
    {
        return Err(invalid("board", None, "board has projects"));
    }
    ctx.store.boards.remove(&id);
    ctx.store.stages.retain(|_, s| s.board != id);
    Ok(Reply::no_content())
}

pub(crate) fn board_stages(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "board")?;
    if !ctx.store.boards.contains_key(&id) {
        return Err(not_found("board not found"));
    }
    let mut items: Vec<&Stage> = ctx
        .store
        .stages
        .values()
        .filter(|s| s.board == id)
        .collect();
    items.sort_by_key(|s| (s.display_order, s.id));
    paged(req, items, MAX_PER_PAGE, "stages", |s| {
        ctx.store.render_stage(s)
    })
}

pub(crate) fn list_stages(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let items: Vec<&Stage> = ctx.store.stages.values().collect();
    paged(req, items, MAX_PER_PAGE, "stages", |s| {
        ctx.store.render_stage(s)
    })
}

pub(crate) fn show_stage(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "stage")?;
    let s = ctx
        .store
        .stages
        .get(&id)
        .ok_or_else(|| not_found("stage not found"))?;
    Ok(Reply::ok(single("stage", ctx.store.render_stage(s))))
}

fn apply_stage(ctx: &Ctx<'_>, s: &mut Stage, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(n) = optional_name(obj, "name", "stage")? {
        s.name = n;
    }
    if let Some(v) = get_text(obj, "description", "stage")? {
        s.description = v;
    }
    if let Some(Some(v)) = get_i64(obj, "displayOrder", "stage")? {
        s.display_order = v;
    }
    match get_ref(obj, "board", "stage")? {
        None | Some(None) => {}
        Some(Some(RefArg::Id(id))) if ctx.store.boards.contains_key(&id) => s.board = id,
        Some(Some(_)) => return Err(not_found("board not found")),
    }
    Ok(())
}

pub(crate) fn create_stage(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("stage")?;
    let board = match get_ref(&obj, "board", "stage")? {
        Some(Some(RefArg::Id(id))) if ctx.store.boards.contains_key(&id) => id,
        Some(Some(_)) => return Err(not_found("board not found")),
        _ => return Err(invalid("stage", Some("board"), "board is required")),
    };
    let order = ctx
        .store
        .stages
        .values()
        .filter(|s| s.board == board)
        .map(|s| s.display_order)
        .max()
        .unwrap_or(0)
        + 1;
    let mut s = Stage {
        id: 0,
        name: required_name(&obj, "name", "stage")?,
        description: None,
        display_order: order,
        board,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply_stage(ctx, &mut s, &obj)?;
    s.id = ctx.store.alloc("stage");
    let id = s.id;
    let body = single("stage", ctx.store.render_stage(&s));
    ctx.store.stages.insert(id, s);
    Ok(Reply::created(req.location("stages", id), body))
}

pub(crate) fn update_stage(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "stage")?;
    let obj = req.envelope("stage")?;
    let mut s = ctx
        .store
        .stages
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("stage not found"))?;
    apply_stage(ctx, &mut s, &obj)?;
    s.updated_at = ctx.now;
    let body = single("stage", ctx.store.render_stage(&s));
    ctx.store.stages.insert(id, s);
    Ok(Reply::ok(body))
}

pub(crate) fn delete_stage(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "stage")?;
    if !ctx.store.stages.contains_key(&id) {
        return Err(not_found("stage not found"));
    }
    if ctx.store.kases.values().any(|k| k.stage == Some(id)) {
        return Err(invalid("stage", None, "stage has projects"));
    }
    ctx.store.stages.remove(&id);
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Task categories

fn render_category(c: &Category) -> Value {
    json!({ "id": c.id, "name": c.name, "colour": c.colour })
}

fn colour_of(obj: &Map<String, Value>) -> ApiResult<Option<String>> {
    match get_text(obj, "colour", "category")? {
        None | Some(None) => Ok(None),
        Some(Some(c)) => {
            let ok = c.len() == 7
                && c.starts_with('#')
                && c.chars().skip(1).all(|ch| ch.is_ascii_hexdigit());
            if ok {
                Ok(Some(c.to_lowercase()))
            } else {
                Err(invalid(
                    "category",
                    Some("colour"),
                    "colour must be a hex colour like #d36c00",
                ))
            }
        }
    }
}

pub(crate) fn list_categories(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let items: Vec<&Category> = ctx.store.categories.values().collect();
    paged(req, items, MAX_PER_PAGE, "categories", |c| {
        render_category(c)
    })
}

pub(crate) fn show_category(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "category")?;
    let c = ctx
        .store
        .categories
        .get(&id)
        .ok_or_else(|| not_found("category not found"))?;
    Ok(Reply::ok(single("category", render_category(c))))
}

pub(crate) fn create_category(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("category")?;
    let name = required_name(&obj, "name", "category")?;
    let colour = colour_of(&obj)?.unwrap_or_else(|| "#999999".into());
    let c = Category {
        id: ctx.store.alloc("category"),
        name,
        colour,
    };
    let id = c.id;
    let body = single("category", render_category(&c));
    ctx.store.categories.insert(id, c);
    Ok(Reply::created(req.location("categories", id), body))
}

pub(crate) fn update_category(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "category")?;
    let obj = req.envelope("category")?;
    let name = optional_name(&obj, "name", "category")?;
    let colour = colour_of(&obj)?;
    let c = ctx
        .store
        .categories
        .get_mut(&id)
        .ok_or_else(|| not_found("category not found"))?;
    if let Some(n) = name {
        c.name = n;
    }
    if let Some(col) = colour {
        c.colour = col;
    }
    Ok(Reply::ok(single("category", render_category(c))))
}

pub(crate) fn delete_category(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "category")?;
    if ctx.store.categories.remove(&id).is_none() {
        return Err(not_found("category not found"));
    }
    for t in ctx.store.tasks.values_mut() {
        if t.category == Some(id) {
            t.category = None;
        }
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Activity types

pub(crate) fn list_activity_types(ctx: &mut Ctx<'_>, _req: &Req) -> ApiResult<Reply> {
    let v = ctx
        .store
        .activity_types
        .iter()
        .map(|a| ctx.store.render_activity_type(a))
        .collect();
    Ok(unpaged("activityTypes", v))
}

pub(crate) fn show_activity_type(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, "activityType")?;
    let a = ctx
        .store
        .activity_type(id)
        .ok_or_else(|| not_found("activityType not found"))?;
    Ok(Reply::ok(single(
        "activityType",
        ctx.store.render_activity_type(a),
    )))
}

pub(crate) fn create_activity_type(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("activityType")?;
    let name = required_name(&obj, "name", "activityType")?;
    let ulc = get_bool(&obj, "updateLastContacted", "activityType")?
        .flatten()
        .unwrap_or(false);
    let icon = match obj.get("icon") {
        Some(Value::Object(m)) => match m.get("id").or_else(|| m.get("iconName")) {
            Some(Value::String(s)) => s.clone(),
            _ => "note".into(),
        },
        Some(Value::String(s)) => s.clone(),
        _ => "note".into(),
    };
    let order = ctx
        .store
        .activity_types
        .iter()
        .map(|a| a.order)
        .max()
        .unwrap_or(0)
        + 1;
    let a = ActivityType {
        id: ctx.store.alloc("activityType"),
        name,
        update_last_contacted: ulc,
        icon,
        order,
        system: false,
    };
    let id = a.id;
    let body = single("activityType", ctx.store.render_activity_type(&a));
    ctx.store.activity_types.push(a);
    Ok(Reply::created(req.location("activitytypes", id), body))
}

pub(crate) fn update_activity_type(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "activityType")?;
    let obj = req.envelope("activityType")?;
    let name = optional_name(&obj, "name", "activityType")?;
    let ulc = get_bool(&obj, "updateLastContacted", "activityType")?;
    let a = ctx
        .store
        .activity_types
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| not_found("activityType not found"))?;
    if let Some(n) = name {
        if a.system {
            return Err(invalid(
                "activityType",
                Some("name"),
                "system activity types cannot be renamed",
            ));
        }
        a.name = n;
    }
    if let Some(Some(u)) = ulc {
        a.update_last_contacted = u;
    }
    let a = a.clone();
    Ok(Reply::ok(single(
        "activityType",
        ctx.store.render_activity_type(&a),
    )))
}

pub(crate) fn delete_activity_type(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "activityType")?;
    let a = ctx
        .store
        .activity_type(id)
        .ok_or_else(|| not_found("activityType not found"))?;
    if a.system {
        return Err(invalid(
            "activityType",
            None,
            "system activity types cannot be deleted",
        ));
    }
    ctx.store.activity_types.retain(|a| a.id != id);
    for e in ctx.store.entries.values_mut() {
        if e.activity_type == Some(id) {
            e.activity_type = Some(-1);
        }
    }
    Ok(Reply::no_content())
}

// ---------------------------------------------------------------------------
// Titles, countries, currencies, site

pub(crate) fn list_titles(ctx: &mut Ctx<'_>, _req: &Req) -> ApiResult<Reply> {
    let v = ctx
        .store
        .titles
        .values()
        .map(|t| json!({ "id": t.id, "title": t.title }))
        .collect();
    Ok(unpaged("personTitles", v))
}

pub(crate) fn create_title(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let obj = req.envelope("personTitle")?;
    let title = required_name(&obj, "title", "personTitle")?;
    if ctx.store.titles.len() >= 50 {
        return Err(invalid(
            "personTitle",
            None,
            "a maximum of 50 titles is allowed",
        ));
    }
    if ctx
        .store
        .titles
        .values()
        .any(|t| t.title.eq_ignore_ascii_case(&title))
    {
        return Err(invalid(
            "personTitle",
            Some("title"),
            "title has already been taken",
        ));
    }
    let id = ctx.store.alloc("title");
    ctx.store.titles.insert(
        id,
        Title {
            id,
            title: title.clone(),
        },
    );
    Ok(Reply::created(
        req.location("titles", id),
        single("personTitle", json!({ "id": id, "title": title })),
    ))
}

pub(crate) fn delete_title(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    ctx.require_admin()?;
    let id = req.id(0, "personTitle")?;
    if ctx.store.titles.remove(&id).is_none() {
        return Err(not_found("personTitle not found"));
    }
    Ok(Reply::no_content())
}

pub(crate) fn countries(ctx: &mut Ctx<'_>, _req: &Req) -> ApiResult<Reply> {
    let v = ctx
        .store
        .countries
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "alpha2Code": c.alpha2,
                "alpha3Code": c.alpha3, "numericCode": c.numeric,
            })
        })
        .collect();
    Ok(unpaged("countries", v))
}

pub(crate) fn currencies(ctx: &mut Ctx<'_>, _req: &Req) -> ApiResult<Reply> {
    let v = ctx
        .store
        .currencies
        .iter()
        .map(|c| {
            let (symbol, name) = super::seed::CURRENCIES
                .iter()
                .find(|(code, _, _)| code == c)
                .map_or((*c, *c), |(_, symbol, name)| (*symbol, *name));
            json!({ "code": c, "symbol": symbol, "name": name })
        })
        .collect();
    Ok(unpaged("currencies", v))
}

pub(crate) fn site(_ctx: &mut Ctx<'_>, _req: &Req) -> ApiResult<Reply> {
    Ok(Reply::ok(json!({
        "site": {
            "url": "https://sandbox.capsulecrm.com",
            "subdomain": "sandbox",
            "name": "Brightside Digital (sandbox)",
        }
    })))
}
