//! `/parties`: people and organisations.

use serde_json::{Map, Value};

use super::api::*;
use super::common::*;
use super::routes::Ctx;
use super::store::*;

const R: &str = "party";

pub(crate) fn list(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let since = since_param(req, R)?;
    let embed = req.embed();
    let items: Vec<&Party> = ctx
        .store
        .parties
        .values()
        .filter(|p| since.is_none_or(|s| p.updated_at > s))
        .collect();
    paged(req, items, MAX_PER_PAGE, "parties", |p| {
        ctx.store.render_party(p, embed)
    })
}

pub(crate) fn search(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let q = req.q("q").unwrap_or("").trim().to_lowercase();
    let embed = req.embed();
    let items: Vec<&Party> = ctx
        .store
        .parties
        .values()
        .filter(|p| party_matches(ctx.store, p, &q))
        .collect();
    paged(req, items, MAX_PER_PAGE, "parties", |p| {
        ctx.store.render_party(p, embed)
    })
}

/// What Capsule's global search looks at: names, email addresses, phone numbers, postcodes
/// and searchable custom fields (Capsule lets text fields be searchable; the API does not say
/// which are, so the sandbox searches every text field).
fn party_matches(store: &Store, p: &Party, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    contains_ci(&p.display_name(), q)
        || p.emails.iter().any(|e| contains_ci(&e.address, q))
        || p.addresses
            .iter()
            .filter_map(|a| a.zip.as_deref())
            .any(|zip| contains_ci(zip, q))
        || p.fields.iter().any(|f| {
            store
                .definitions
                .get(&f.definition)
                .is_some_and(|d| d.kind == "text")
                && f.value.as_str().is_some_and(|v| contains_ci(v, q))
        })
        || p.phones.iter().any(|ph| {
            contains_ci(&ph.number, q) || {
                let digits: String = ph.number.chars().filter(char::is_ascii_digit).collect();
                let qd: String = q.chars().filter(char::is_ascii_digit).collect();
                !qd.is_empty()
                    && qd.len() == q.chars().filter(|c| !c.is_whitespace()).count()
                    && digits.contains(&qd)
            }
        })
}

pub(crate) fn deleted(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    deleted_feed(
        req,
        &ctx.store.deleted_parties,
        &ctx.store.restricted_parties,
        Entity::Parties,
        "restrictedParties",
    )
}

pub(crate) fn show(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let embed = req.embed();
    let raw = req.param(0);
    let ids = parse_ids(raw, R, "party")?;
    let mut out = Vec::new();
    for id in &ids {
        let p = ctx
            .store
            .parties
            .get(id)
            .ok_or_else(|| not_found("party not found"))?;
        out.push(ctx.store.render_party(p, embed));
    }
    if raw.contains(',') {
        Ok(unpaged("parties", out))
    } else {
        Ok(Reply::ok(single("party", out.pop().unwrap_or(Value::Null))))
    }
}

pub(crate) fn create(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let obj = req.envelope(R)?;
    let kind = match get_str(&obj, "type", R)? {
        Some(Some(t)) if t == "person" => PartyKind::Person,
        Some(Some(t)) if t == "organisation" => PartyKind::Organisation,
        Some(Some(_)) => {
            return Err(invalid(
                R,
                Some("type"),
                "type must be person or organisation",
            ));
        }
        _ => return Err(invalid(R, Some("type"), "type is required")),
    };
    let mut p = Party {
        id: 0,
        kind,
        title: None,
        first_name: None,
        last_name: None,
        job_title: None,
        name: None,
        about: None,
        organisation: None,
        owner: Some(ctx.user),
        team: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        last_contacted_at: None,
        emails: vec![],
        phones: vec![],
        addresses: vec![],
        websites: vec![],
        tags: vec![],
        fields: vec![],
    };
    apply(ctx, &mut p, &obj)?;
    p.id = ctx.store.alloc("party");
    let id = p.id;
    let body = single("party", ctx.store.render_party(&p, req.embed()));
    ctx.store.parties.insert(id, p);
    Ok(Reply::created(req.location("parties", id), body))
}

pub(crate) fn update(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    let mut p = ctx
        .store
        .parties
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("party not found"))?;
    let obj = req.envelope(R)?;
    if let Some(Some(t)) = get_str(&obj, "type", R)? {
        let same = matches!(
            (t.as_str(), p.kind),
            ("person", PartyKind::Person) | ("organisation", PartyKind::Organisation)
        );
        if !same {
            return Err(invalid(R, Some("type"), "type cannot be changed"));
        }
    }
    apply(ctx, &mut p, &obj)?;
    p.updated_at = ctx.now;
    ctx.store.parties.insert(id, p);
    let p = ctx
        .store
        .parties
        .get(&id)
        .ok_or_else(|| not_found("party not found"))?;
    Ok(Reply::ok(single(
        "party",
        ctx.store.render_party(p, req.embed()),
    )))
}

/// Applies a party body (create or update) onto `p`.
fn apply(ctx: &mut Ctx<'_>, p: &mut Party, obj: &Map<String, Value>) -> ApiResult<()> {
    if let Some(v) = get_text(obj, "about", R)? {
        p.about = v;
    }
    match p.kind {
        PartyKind::Person => {
            if let Some(v) = get_text(obj, "firstName", R)? {
                p.first_name = v;
            }
            if let Some(v) = get_text(obj, "lastName", R)? {
                p.last_name = v;
            }
            if let Some(v) = get_text(obj, "jobTitle", R)? {
                p.job_title = v;
            }
            if let Some(v) = get_text(obj, "title", R)? {
                if let Some(t) = &v
                    && !ctx
                        .store
                        .titles
                        .values()
                        .any(|x| x.title.eq_ignore_ascii_case(t))
                {
                    return Err(invalid(R, Some("title"), "title: unknown title"));
                }
                p.title = v.map(|t| {
                    ctx.store
                        .titles
                        .values()
                        .find(|x| x.title.eq_ignore_ascii_case(&t))
                        .map_or(t, |x| x.title.clone())
                });
            }
            match get_ref(obj, "organisation", R)? {
                None => {}
                Some(None) => p.organisation = None,
                Some(Some(RefArg::Id(oid))) => {
                    let is_org = ctx
                        .store
                        .parties
                        .get(&oid)
                        .is_some_and(|o| o.kind == PartyKind::Organisation);
                    if !is_org {
                        return Err(not_found("organisation not found"));
                    }
                    p.organisation = Some(oid);
                }
                Some(Some(RefArg::Name(name))) => {
                    let name = name.trim().to_string();
                    if name.is_empty() {
                        return Err(invalid(
                            R,
                            Some("organisation"),
                            "organisation: name is required",
                        ));
                    }
                    let found = ctx
                        .store
                        .parties
                        .values()
                        .find(|o| {
                            o.kind == PartyKind::Organisation
                                && o.name
                                    .as_deref()
                                    .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                        })
                        .map(|o| o.id);
                    let oid = match found {
                        Some(oid) => oid,
                        None => {
                            let oid = ctx.store.alloc("party");
                            ctx.store.parties.insert(
                                oid,
                                Party {
                                    id: oid,
                                    kind: PartyKind::Organisation,
                                    title: None,
                                    first_name: None,
                                    last_name: None,
                                    job_title: None,
                                    name: Some(name),
                                    about: None,
                                    organisation: None,
                                    owner: Some(ctx.user),
                                    team: None,
                                    created_at: ctx.now,
                                    updated_at: ctx.now,
                                    last_contacted_at: None,
                                    emails: vec![],
                                    phones: vec![],
                                    addresses: vec![],
                                    websites: vec![],
                                    tags: vec![],
                                    fields: vec![],
                                },
                            );
                            oid
                        }
                    };
                    p.organisation = Some(oid);
                }
            }
        }
        PartyKind::Organisation => {
            if let Some(v) = get_text(obj, "name", R)? {
                p.name = v;
            }
        }
    }
    match get_ref(obj, "owner", R)? {
        None => {}
        Some(None) => p.owner = None,
        Some(Some(r)) => p.owner = Some(user_ref(ctx.store, &r, R)?),
    }
    match get_ref(obj, "team", R)? {
        None => {}
        Some(None) => p.team = None,
        Some(Some(r)) => p.team = Some(team_ref(ctx.store, &r, R)?),
    }

    if let Some(items) = get_items(obj, "emailAddresses", R)? {
        merge_rows(
            ctx.store,
            &mut p.emails,
            &items,
            "emailAddress",
            |e| e.id,
            |id, it| {
                let address = match get_text(it, "address", R)? {
                    Some(Some(a)) => a,
                    _ => {
                        return Err(invalid(
                            R,
                            Some("emailAddress.address"),
                            "emailAddress.address: address is required",
                        ));
                    }
                };
                Ok(Email {
                    id,
                    kind: get_text(it, "type", R)?.flatten(),
                    address,
                })
            },
            |e, it| {
                if let Some(t) = get_text(it, "type", R)? {
                    e.kind = t;
                }
                match get_text(it, "address", R)? {
                    Some(Some(a)) => e.address = a,
                    Some(None) => {
                        return Err(invalid(
                            R,
                            Some("emailAddress.address"),
                            "emailAddress.address: address is required",
                        ));
                    }
                    None => {}
                }
                Ok(())
            },
        )?;
    }
    if let Some(items) = get_items(obj, "phoneNumbers", R)? {
        merge_rows(
            ctx.store,
            &mut p.phones,
            &items,
            "phoneNumber",
            |e| e.id,
            |id, it| {
                let number = match get_text(it, "number", R)? {
                    Some(Some(a)) => a,
                    _ => {
                        return Err(invalid(
                            R,
                            Some("phoneNumber.number"),
                            "phoneNumber.number: number is required",
                        ));
                    }
                };
                Ok(Phone {
                    id,
                    kind: get_text(it, "type", R)?.flatten(),
                    number,
                })
            },
            |e, it| {
                if let Some(t) = get_text(it, "type", R)? {
                    e.kind = t;
                }
                match get_text(it, "number", R)? {
                    Some(Some(a)) => e.number = a,
                    Some(None) => {
                        return Err(invalid(
                            R,
                            Some("phoneNumber.number"),
                            "phoneNumber.number: number is required",
                        ));
                    }
                    None => {}
                }
                Ok(())
            },
        )?;
    }
    if let Some(items) = get_items(obj, "addresses", R)? {
        let countries: Vec<&'static str> = ctx.store.countries.iter().map(|c| c.name).collect();
        let apply_addr = |a: &mut Address, it: &Map<String, Value>| -> ApiResult<()> {
            if let Some(v) = get_text(it, "type", R)? {
                a.kind = v;
            }
            if let Some(v) = get_text(it, "street", R)? {
                a.street = v;
            }
            if let Some(v) = get_text(it, "city", R)? {
                a.city = v;
            }
            if let Some(v) = get_text(it, "state", R)? {
                a.state = v;
            }
            if let Some(v) = get_text(it, "zip", R)? {
                a.zip = v;
            }
            if let Some(v) = get_text(it, "country", R)? {
                a.country = match v {
                    None => None,
                    Some(c) => Some(canonical_country(&countries, &c).ok_or_else(|| {
                        invalid(
                            R,
                            Some("address.country"),
                            "address.country: unknown country",
                        )
                    })?),
                };
            }
            Ok(())
        };
        merge_rows(
            ctx.store,
            &mut p.addresses,
            &items,
            "address",
            |a| a.id,
            |id, it| {
                let mut a = Address {
                    id,
                    ..Address::default()
                };
                apply_addr(&mut a, it)?;
                Ok(a)
            },
            |a, it| apply_addr(a, it),
        )?;
    }
    if let Some(items) = get_items(obj, "websites", R)? {
        let service_of = |it: &Map<String, Value>| -> ApiResult<Option<String>> {
            match get_text(it, "service", R)? {
                None | Some(None) => Ok(None),
                Some(Some(s)) => {
                    let up = s.to_uppercase();
                    if WEBSITE_SERVICES.contains(&up.as_str()) {
                        Ok(Some(up))
                    } else {
                        Err(invalid(
                            R,
                            Some("website.service"),
                            "website.service: unknown service",
                        ))
                    }
                }
            }
        };
        let addr_required = || {
            invalid(
                R,
                Some("website.address"),
                "website.address: address is required",
            )
        };
        merge_rows(
            ctx.store,
            &mut p.websites,
            &items,
            "website",
            |w| w.id,
            |id, it| {
                let address = match get_text(it, "address", R)? {
                    Some(Some(a)) => a,
                    _ => return Err(addr_required()),
                };
                Ok(Website {
                    id,
                    kind: get_text(it, "type", R)?.flatten(),
                    service: service_of(it)?.unwrap_or_else(|| "URL".into()),
                    address,
                })
            },
            |w, it| {
                if let Some(t) = get_text(it, "type", R)? {
                    w.kind = t;
                }
                if let Some(s) = service_of(it)? {
                    w.service = s;
                }
                match get_text(it, "address", R)? {
                    Some(Some(a)) => w.address = a,
                    Some(None) => return Err(addr_required()),
                    None => {}
                }
                Ok(())
            },
        )?;
    }
    merge_tags_and_fields(ctx.store, Entity::Parties, obj, &mut p.tags, &mut p.fields)?;

    match p.kind {
        PartyKind::Person if p.first_name.is_none() && p.last_name.is_none() => Err(invalid(
            R,
            Some("lastName"),
            "firstName or lastName is required",
        )),
        PartyKind::Organisation if p.name.is_none() => {
            Err(invalid(R, Some("name"), "name is required"))
        }
        _ => Ok(()),
    }
}

/// Canonical country name (case-insensitive), with `USA` aliased to `United States`.
pub(crate) fn canonical_country(countries: &[&'static str], c: &str) -> Option<String> {
    let c = c.trim();
    if c.eq_ignore_ascii_case("USA") {
        return Some("United States".into());
    }
    countries
        .iter()
        .find(|n| n.eq_ignore_ascii_case(c))
        .map(|n| n.to_string())
}

/// Merges a contact-row collection: no id → add, id → update, id +
/// `_delete: true` → remove; an unknown id → 404.
#[allow(clippy::too_many_arguments)]
fn merge_rows<T>(
    store: &mut Store,
    rows: &mut Vec<T>,
    items: &[&Map<String, Value>],
    what: &str,
    id_of: impl Fn(&T) -> i64,
    make: impl Fn(i64, &Map<String, Value>) -> ApiResult<T>,
    update: impl Fn(&mut T, &Map<String, Value>) -> ApiResult<()>,
) -> ApiResult<()> {
    for item in items {
        match item_id(item, R, what)? {
            Some(id) => {
                let Some(pos) = rows.iter().position(|r| id_of(r) == id) else {
                    return Err(not_found(format!("{what} not found")));
                };
                if is_delete(item) {
                    rows.remove(pos);
                } else if let Some(row) = rows.get_mut(pos) {
                    update(row, item)?;
                }
            }
            None => {
                if is_delete(item) {
                    return Err(invalid(
                        R,
                        Some(what),
                        format!("{what}: id is required to delete"),
                    ));
                }
                let id = store.alloc("row");
                rows.push(make(id, item)?);
            }
        }
    }
    Ok(())
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    if !ctx.store.parties.contains_key(&id) {
        return Err(not_found("party not found"));
    }
    delete_party_cascade(ctx, id);
    Ok(Reply::no_content())
}

/// Deleting a party deletes its opportunities, projects, tasks and entries;
/// people of a deleted organisation lose their organisation.
pub(crate) fn delete_party_cascade(ctx: &mut Ctx<'_>, id: i64) {
    let now = ctx.now;
    let s = &mut *ctx.store;
    s.parties.remove(&id);
    s.deleted_parties.push(Tombstone {
        id,
        deleted_at: now,
    });
    let opps: Vec<i64> = s
        .opportunities
        .values()
        .filter(|o| o.party == id)
        .map(|o| o.id)
        .collect();
    let kases: Vec<i64> = s
        .kases
        .values()
        .filter(|k| k.party == id)
        .map(|k| k.id)
        .collect();
    for o in &opps {
        s.opportunities.remove(o);
        s.deleted_opportunities.push(Tombstone {
            id: *o,
            deleted_at: now,
        });
    }
    for k in &kases {
        s.kases.remove(k);
        s.deleted_kases.push(Tombstone {
            id: *k,
            deleted_at: now,
        });
    }
    let linked = |p: Option<i64>, o: Option<i64>, k: Option<i64>| {
        p == Some(id)
            || o.is_some_and(|o| opps.contains(&o))
            || k.is_some_and(|k| kases.contains(&k))
    };
    s.tasks
        .retain(|_, t| !linked(t.party, t.opportunity, t.kase));
    s.entries
        .retain(|_, e| !linked(e.party, e.opportunity, e.kase));
    for e in s.entries.values_mut() {
        e.parties.retain(|p| *p != id);
    }
    for p in s.parties.values_mut() {
        if p.organisation == Some(id) {
            p.organisation = None;
            p.updated_at = now;
        }
    }
    for o in s.opportunities.values_mut() {
        o.additional_parties.retain(|p| *p != id);
    }
    for k in s.kases.values_mut() {
        k.additional_parties.retain(|p| *p != id);
        if k.opportunity.is_some_and(|o| opps.contains(&o)) {
            k.opportunity = None;
        }
    }
}

pub(crate) fn people(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let id = req.id(0, R)?;
    if !ctx.store.parties.contains_key(&id) {
        return Err(not_found("party not found"));
    }
    let embed = req.embed();
    let items: Vec<&Party> = ctx
        .store
        .parties
        .values()
        .filter(|p| p.organisation == Some(id))
        .collect();
    paged(req, items, MAX_PER_PAGE, "parties", |p| {
        ctx.store.render_party(p, embed)
    })
}

fn additional_of<'a>(
    ctx: &'a mut Ctx<'_>,
    entity: Entity,
    id: i64,
) -> ApiResult<(&'a mut Vec<i64>, i64)> {
    match entity {
        Entity::Kases => ctx
            .store
            .kases
            .get_mut(&id)
            .map(|k| (&mut k.additional_parties, k.party))
            .ok_or_else(|| not_found("kase not found")),
        _ => ctx
            .store
            .opportunities
            .get_mut(&id)
            .map(|o| (&mut o.additional_parties, o.party))
            .ok_or_else(|| not_found("opportunity not found")),
    }
}

pub(crate) fn additional(ctx: &mut Ctx<'_>, req: &Req, entity: Entity) -> ApiResult<Reply> {
    let id = req.id(0, entity.singular())?;
    let ids = additional_of(ctx, entity, id)?.0.clone();
    let embed = req.embed();
    let items: Vec<&Party> = ids
        .iter()
        .filter_map(|p| ctx.store.parties.get(p))
        .collect();
    paged(req, items, MAX_PER_PAGE, "parties", |p| {
        ctx.store.render_party(p, embed)
    })
}

pub(crate) fn add_additional(ctx: &mut Ctx<'_>, req: &Req, entity: Entity) -> ApiResult<Reply> {
    let id = req.id(0, entity.singular())?;
    let pid = req.id(1, "party")?;
    additional_of(ctx, entity, id)?;
    if !ctx.store.parties.contains_key(&pid) {
        return Err(not_found("party not found"));
    }
    let what = entity.singular();
    let now = ctx.now;
    let (list, main) = additional_of(ctx, entity, id)?;
    if main == pid {
        return Err(invalid(
            what,
            Some("party"),
            format!("party is already related to this {what}"),
        ));
    }
    if list.contains(&pid) {
        return Err(invalid(
            what,
            Some("party"),
            format!("party is already a contact for this {what}"),
        ));
    }
    list.push(pid);
    bump(ctx, entity, id, now);
    Ok(Reply::no_content())
}

pub(crate) fn remove_additional(ctx: &mut Ctx<'_>, req: &Req, entity: Entity) -> ApiResult<Reply> {
    let id = req.id(0, entity.singular())?;
    let pid = req.id(1, "party")?;
    let now = ctx.now;
    let (list, _) = additional_of(ctx, entity, id)?;
    if !list.contains(&pid) {
        return Err(not_found("party not found"));
    }
    list.retain(|p| *p != pid);
    bump(ctx, entity, id, now);
    Ok(Reply::no_content())
}

fn bump(ctx: &mut Ctx<'_>, entity: Entity, id: i64, now: chrono::DateTime<chrono::Utc>) {
    match entity {
        Entity::Kases => {
            if let Some(k) = ctx.store.kases.get_mut(&id) {
                k.updated_at = now;
            }
        }
        _ => {
            if let Some(o) = ctx.store.opportunities.get_mut(&id) {
                o.updated_at = now;
            }
        }
    }
}
