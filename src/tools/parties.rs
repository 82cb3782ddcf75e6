//! Machinery shared by contacts and accounts, which are both Capsule parties.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    CallCx, ToolError,
    list::{self, Detail, Fetched, Paging},
    write::{Target, plan, record_id},
};
use crate::app::App;
use crate::capsule::{
    CapsuleError,
    endpoint::{Endpoint, PARTIES, PARTY_FIELDS, PARTY_TAGS},
    map::{
        self, decode_err, fields,
        party::{self, Kind, Query, Resolved},
        segment::Segment,
    },
    refdata::{WebLinked, linked},
    wire::{self, FieldDefinition},
};
use crate::unified::{Deleted, ListResult, Summary, WriteResult};

pub type MapFn<T> = fn(&Value, &[FieldDefinition], bool) -> Result<T, CapsuleError>;

/// How one party kind presents itself to the model.
pub struct Noun {
    pub kind: Kind,
    /// `contact` / `account`
    pub noun: &'static str,
    pub list_tool: &'static str,
}

/// Custom field definitions, decoded once per cached copy of the list and shared.
pub type Definitions = Arc<Vec<FieldDefinition>>;

/// Party custom field definitions (cached).
pub async fn definitions(app: &App) -> Result<Definitions, ToolError> {
    definitions_of(app, &PARTY_FIELDS).await
}

/// Custom field definitions of any entity (cached).
pub async fn definitions_of(app: &App, ep: &Endpoint) -> Result<Definitions, ToolError> {
    definitions_since(app, ep, None).await
}

/// As [`definitions_of`]; with `since`, a list fetched before then is fetched again.
pub async fn definitions_since(
    app: &App,
    ep: &Endpoint,
    since: Option<std::time::Instant>,
) -> Result<Definitions, ToolError> {
    app.refdata
        .decoded_since(&app.client, (ep.path, ep.plural), since, |items| {
            items
                .iter()
                .map(|v| {
                    wire::decode::<FieldDefinition>(v).map_err(|e| ToolError::from(decode_err(e)))
                })
                .collect::<Result<Vec<_>, ToolError>>()
        })
        .await
}

/// Definitions are only needed when a record carries custom field values.
pub async fn definitions_for(app: &App, records: &[&Value]) -> Result<Definitions, ToolError> {
    let any_fields = records.iter().any(|r| {
        r.get("fields")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if any_fields {
        definitions(app).await
    } else {
        Ok(Definitions::default())
    }
}

fn opt_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_id(what, s).map_err(ToolError::invalid))
        .transpose()
}

/// Lookup filters of the party lists.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Lookup {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Segment filters of every record list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct SegmentArgs {
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub custom_fields: Option<Map<String, Value>>,
}

impl SegmentArgs {
    /// Adds the segment, as given, to a list's filters (what its cursor carries).
    pub fn echo(&self, filters: &mut Value) {
        let Some(m) = filters.as_object_mut() else {
            return;
        };
        if let Some(tags) = self.tags.as_ref().filter(|t| !t.is_empty()) {
            let tags: Vec<Value> = tags.iter().map(|t| t.trim().into()).collect();
            m.insert("tags".into(), Value::Array(tags));
        }
        if let Some(cf) = self.custom_fields.as_ref().filter(|c| !c.is_empty()) {
            m.insert("custom_fields".into(), Value::Object(cf.clone()));
        }
    }
}

/// Where a record kind's segment names resolve: its field definitions and tags, and the
/// `entity_type` the list tools take for it.
pub struct SegmentSource {
    pub fields: &'static Endpoint,
    pub tags: &'static Endpoint,
    pub entity_type: &'static str,
}

/// The filters of a party list as given, from the arguments or from a cursor.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Given {
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(flatten)]
    pub lookup: Lookup,
    #[serde(flatten)]
    pub segment: SegmentArgs,
}

fn non_empty(what: &str, v: &Option<String>) -> Result<Option<String>, ToolError> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(ToolError::invalid(format!("`{what}` must not be empty"))),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Checks list filters; `account_id` only where the kind has it. The segment is resolved
/// later ([`segment`]), against Capsule's reference data.
pub fn query(g: &Given) -> Result<Query, ToolError> {
    let phone = non_empty("phone", &g.lookup.phone)?;
    if let Some(p) = &phone {
        if party::phone_key(p).is_none() {
            return Err(ToolError::invalid(format!(
                "`phone` needs at least {} digits of the number; got \"{p}\"",
                party::MIN_PHONE_DIGITS
            )));
        }
        if g.search.is_some() {
            return Err(ToolError::invalid("give `phone` or `search`, not both"));
        }
    }
    Ok(Query {
        search: non_empty("search", &g.search)?,
        updated_after: g
            .updated_after
            .as_deref()
            .map(|t| map::parse_timestamp("updated_after", t).map_err(ToolError::invalid))
            .transpose()?,
        account_id: opt_id("account_id", &g.account_id)?,
        owner_id: opt_id("owner_id", &g.owner_id)?,
        tag: non_empty("tag", &g.tag)?,
        email: non_empty("email", &g.lookup.email)?,
        phone,
        phone_suffix: None,
        segment: Segment::default(),
    })
}

/// A small edit distance (Levenshtein, by characters).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The names close to `given`: one a case-insensitive prefix of the other, or a few edits
/// apart (about one in three characters). Closest first, at most five.
pub fn close_matches<'a>(given: &str, names: &[&'a str]) -> Vec<&'a str> {
    let g = given.trim().to_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|name| {
            let n = name.to_lowercase();
            let d = distance(&g, &n);
            let room = (g.chars().count().max(n.chars().count()) / 3).clamp(1, 3);
            let prefix = !g.is_empty() && (n.starts_with(&g) || g.starts_with(&n));
            (prefix || d <= room).then_some((d, *name))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

fn unknown(what: &str, given: &str, names: &[&str], list_tool: &str, entity: &str) -> ToolError {
    let close = close_matches(given, names);
    let hint = if close.is_empty() {
        "none is close".to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    ToolError::invalid(format!(
        "no {what} `{given}` for {entity}s; {hint} ({list_tool} with entity_type {entity} lists them)"
    ))
}

/// Resolves a list's `tag`, `tags` and `custom_fields` into ids and filter values. Unknown
/// names are refused naming the close ones, before any list request (reference data is cached).
pub async fn segment(
    app: &App,
    src: &SegmentSource,
    applies: impl Fn(&FieldDefinition) -> bool,
    tag: Option<&str>,
    args: &SegmentArgs,
) -> Result<Segment, ToolError> {
    let mut out = Segment::default();
    let names: Vec<&str> = tag
        .into_iter()
        .chain(args.tags.iter().flatten().map(String::as_str))
        .map(str::trim)
        .collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(ToolError::invalid("`tags` items must not be empty"));
    }
    if !names.is_empty() {
        let tags = tags_in_use(app, src.tags).await?;
        for name in names {
            let found = tags
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
                .or_else(|| tags.iter().find(|(id, _)| id.to_string() == name));
            let Some((id, _)) = found else {
                let all: Vec<&str> = tags.iter().map(|(_, n)| n.as_str()).collect();
                return Err(unknown("tag", name, &all, "crm_list_tags", src.entity_type));
            };
            if !out.tag_ids.contains(id) {
                out.tag_ids.push(*id);
            }
        }
    }
    if let Some(cf) = args.custom_fields.as_ref().filter(|m| !m.is_empty()) {
        let defs = definitions_of(app, src.fields).await?;
        let usable: Vec<&FieldDefinition> = defs.iter().filter(|d| applies(d)).collect();
        for (key, value) in cf {
            let k = key.trim();
            let def = usable
                .iter()
                .find(|d| d.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(k)))
                .or_else(|| {
                    usable
                        .iter()
                        .find(|d| d.id.is_some_and(|id| id.to_string() == k))
                });
            let Some((def, id)) = def.and_then(|d| Some((*d, d.id?))) else {
                let all: Vec<&str> = usable.iter().filter_map(|d| d.name.as_deref()).collect();
                return Err(unknown(
                    "custom field",
                    key,
                    &all,
                    "crm_list_fields",
                    src.entity_type,
                ));
            };
            // The value as a write would send it: checked against the field's type.
            let one = Map::from_iter([(id.to_string(), value.clone())]);
            let rows = fields::write(&one, std::slice::from_ref(def), |_| true)
                .map_err(ToolError::invalid)?;
            let wire = rows
                .first()
                .and_then(|r| r.get("value"))
                .cloned()
                .unwrap_or(Value::Null);
            out.fields.push((id, wire));
        }
    }
    Ok(out)
}

pub fn source(kind: Kind) -> SegmentSource {
    SegmentSource {
        fields: &PARTY_FIELDS,
        tags: &PARTY_TAGS,
        entity_type: match kind {
            Kind::Person => "contact",
            Kind::Organisation => "account",
        },
    }
}

/// Most records a phone lookup's Capsule request reads (one page).
const LOOKUP_PAGE: u32 = list::MAX_LIMIT;

/// Finds the parties with `q.phone` in at most two Capsule requests: the filter for numbers
/// ending in its last four digits (with the other filters), then, when none is the number
/// (stored with a space among those four), those ending in its last two. Each candidate is
/// confirmed by [`party::same_phone`]. Returns the records and what was searched.
async fn phone_lookup(
    app: &App,
    kind: Kind,
    q: &Query,
) -> Result<(Vec<Value>, Option<String>), ToolError> {
    let key = q
        .phone
        .as_deref()
        .and_then(party::phone_key)
        .ok_or_else(|| ToolError::invalid("`phone` names no number"))?;
    let mut tried: Vec<&str> = Vec::new();
    let mut complete = true;
    for n in [4, 2] {
        let suffix = &key.digits[key.digits.len().saturating_sub(n)..];
        let ask = Query {
            phone_suffix: Some(suffix.to_owned()),
            ..q.clone()
        };
        let req = party::list_request(kind, &ask, 1, LOOKUP_PAGE);
        let fetched = app.client.list_page(&req, PARTIES.plural).await?;
        complete &= fetched.next.is_none();
        tried.push(suffix);
        let kept: Vec<Value> = fetched
            .items
            .iter()
            .filter(|raw| party::matches(kind, q, raw))
            .cloned()
            .collect();
        // The people of an account come from one path, whatever the suffix.
        if !kept.is_empty() || q.account_id.is_some() {
            return Ok((kept, None));
        }
    }
    let mut note = format!(
        "phone {} (national digits compared): no match among numbers ending {}",
        key.digits,
        tried.join(" or ")
    );
    if !complete {
        note.push_str(&format!(
            " (first {LOOKUP_PAGE} of each; add filters to narrow)"
        ));
    }
    Ok((Vec::new(), Some(note)))
}

/// Maps raw parties, with their web address when the site is known, cut to `detail`.
fn map_page<T: Summary + WebLinked>(
    raws: &[&Value],
    defs: &[FieldDefinition],
    (include_raw, site): (bool, Option<&str>),
    detail: Detail,
    map_fn: MapFn<T>,
) -> Result<Vec<T>, ToolError> {
    raws.iter()
        .map(|raw| {
            map_fn(raw, defs, include_raw)
                .map(|r| detail.apply(linked(site, r)))
                .map_err(ToolError::from)
        })
        .collect()
}

pub async fn list<T: Summary + WebLinked + serde::Serialize + Clone>(
    app: Arc<App>,
    cx: &CallCx,
    noun: &Noun,
    (paging, detail): (&Paging, Detail),
    given: Given,
    map_fn: MapFn<T>,
) -> Result<ListResult<T>, ToolError> {
    let q = query(&given)?;
    let mut filters = party::query_json(&q);
    given.segment.echo(&mut filters);
    // With a cursor the filters are the cursor's; `list::run` refuses different ones.
    let given = match list::filters_of(noun.list_tool, paging)? {
        Some(f) => serde_json::from_value::<Given>(f)
            .map_err(|_| ToolError::invalid("`cursor` is damaged; call again without `cursor`"))?,
        None => given,
    };
    let mut q = query(&given)?;
    let kind = noun.kind;
    q.segment = segment(
        &app,
        &source(kind),
        |d| kind.field_applies(d),
        q.tag.as_deref(),
        &given.segment,
    )
    .await?;
    let include_raw = paging.include_remote_data;
    let site = full_site(&app, detail).await;
    if q.phone.is_some() {
        let (raws, note) = phone_lookup(&app, kind, &q).await?;
        let kept: Vec<&Value> = raws.iter().collect();
        // Summaries carry no custom fields: the lookup stays within its two requests.
        let defs = if detail == Detail::Full {
            definitions_for(&app, &kept).await?
        } else {
            Definitions::default()
        };
        let items = map_page(&kept, &defs, (include_raw, site.as_deref()), detail, map_fn)?;
        let mut out = list::run(noun.list_tool, paging, filters, cx, |page, per_page| {
            std::future::ready(Ok::<_, ToolError>(list::local_page(&items, page, per_page)))
        })
        .await?;
        out.searched = note.filter(|_| out.result.is_empty());
        return Ok(out);
    }
    let email = q.email.clone();
    let mut out = list::run(noun.list_tool, paging, filters, cx, |page, per_page| {
        let app = app.clone();
        let q = q.clone();
        let site = site.clone();
        async move {
            let req = party::list_request(kind, &q, page, per_page);
            let fetched = app.client.list_page(&req, PARTIES.plural).await?;
            let kept: Vec<&Value> = fetched
                .items
                .iter()
                .filter(|raw| party::matches(kind, &q, raw))
                .collect();
            let defs = definitions_for(&app, &kept).await?;
            let items = map_page(&kept, &defs, (include_raw, site.as_deref()), detail, map_fn)?;
            Ok(Fetched {
                items,
                has_next: fetched.next.is_some(),
            })
        }
    })
    .await?;
    if let Some(email) = email
        && out.result.is_empty()
        && out.next_cursor.is_none()
    {
        out.searched = Some(format!(
            "email {email} (whole address, any case): no {} has it",
            noun.noun
        ));
    }
    Ok(out)
}

fn not_found(noun: &Noun, id: &str) -> String {
    format!("no {} {id}; find ids with {}", noun.noun, noun.list_tool)
}

async fn fetch(app: &App, noun: &Noun, id: &str, embed: bool) -> Result<Value, ToolError> {
    let n = record_id(id, noun.noun, noun.list_tool)?;
    let query = if embed {
        vec![("embed".to_owned(), party::EMBED.to_owned())]
    } else {
        Vec::new()
    };
    let raw = app
        .client
        .show(&PARTIES, n, &query)
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(noun, id)))?;
    if !party::is_kind(&raw, noun.kind) {
        let other = if noun.kind == Kind::Person {
            "an account (organisation); use the crm_*_account tools for it"
        } else {
            "a contact (person); use the crm_*_contact tools for it"
        };
        return Err(ToolError::not_found(format!(
            "no {} {id}: that id is {other}",
            noun.noun
        )));
    }
    Ok(raw)
}

pub async fn get<T: WebLinked>(
    app: &App,
    noun: &Noun,
    id: &str,
    include_raw: bool,
    map_fn: MapFn<T>,
) -> Result<T, ToolError> {
    let raw = fetch(app, noun, id, true).await?;
    let defs = definitions_for(app, &[&raw]).await?;
    let site = app.refdata.site_url(&app.client).await;
    Ok(linked(site.as_deref(), map_fn(&raw, &defs, include_raw)?))
}

/// The web app's address when a list returns whole records (lean ones go without `web_url`).
pub async fn full_site(app: &App, detail: Detail) -> Option<String> {
    match detail {
        Detail::Full => app.refdata.site_url(&app.client).await,
        Detail::Summary => None,
    }
}

/// Deletes after checking the id is of the right kind (a contact id given to
/// crm_delete_account must not delete a person).
pub async fn delete(
    app: &App,
    noun: &Noun,
    id: &str,
    dry_run: bool,
) -> Result<WriteResult<Deleted>, ToolError> {
    let n = record_id(id, noun.noun, noun.list_tool)?;
    if dry_run {
        return Ok(WriteResult::DryRun(plan(
            "DELETE",
            format!("{}/{n}", PARTIES.path),
            PARTIES.single,
            None,
        )));
    }
    fetch(app, noun, id, false).await?;
    app.client
        .delete(&PARTIES, n)
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(noun, id)))?;
    Ok(WriteResult::Record(Deleted {
        id: n.to_string(),
        deleted: true,
    }))
}

/// Resolves custom field names and tags to remove into ids (reference data is cached).
pub async fn resolve(
    app: &App,
    kind: Kind,
    custom_fields: Option<&Map<String, Value>>,
    remove_tags: Option<&[String]>,
) -> Result<Resolved, ToolError> {
    resolve_with(
        app,
        (&PARTY_FIELDS, &PARTY_TAGS),
        |d| kind.field_applies(d),
        custom_fields,
        remove_tags,
    )
    .await
}

/// A salutation must be one of the account's person titles (`/titles`, cached); given in
/// another case, it is written as Capsule spells it.
pub async fn check_salutation(
    app: &App,
    salutation: &mut Option<Option<String>>,
) -> Result<(), ToolError> {
    let Some(Some(given)) = salutation.as_mut() else {
        return Ok(());
    };
    let titles = app
        .refdata
        .list(&app.client, "/titles", "personTitles", &[])
        .await?;
    let names: Vec<&str> = titles
        .iter()
        .filter_map(|t| t.get("title").and_then(Value::as_str))
        .collect();
    match names.iter().find(|n| n.eq_ignore_ascii_case(given.trim())) {
        Some(n) => {
            *given = (*n).to_owned();
            Ok(())
        }
        None => Err(ToolError::invalid(format!(
            "`salutation` must be one of this account's titles: {}; got \"{given}\"",
            names.join(", ")
        ))),
    }
}

/// Resolves custom field names (definitions at `eps.0`) and tags to remove (tags at `eps.1`).
pub async fn resolve_with(
    app: &App,
    eps: (&Endpoint, &Endpoint),
    applies: impl Fn(&FieldDefinition) -> bool,
    custom_fields: Option<&Map<String, Value>>,
    remove_tags: Option<&[String]>,
) -> Result<Resolved, ToolError> {
    let (fields_ep, tags_ep) = eps;
    let mut resolved = Resolved::default();
    if let Some(cf) = custom_fields.filter(|m| !m.is_empty()) {
        let defs = field_definitions(app, fields_ep, cf, &applies).await?;
        resolved.field_rows = fields::write(cf, &defs, applies).map_err(ToolError::invalid)?;
    }
    if let Some(names) = remove_tags {
        resolved.remove_tag_ids = tag_ids(app, tags_ep, names).await?;
    }
    Ok(resolved)
}

/// The definitions at `ep` that `custom_fields` names, fetched again once when a name is not
/// among the cached ones.
pub async fn field_definitions(
    app: &App,
    ep: &Endpoint,
    custom_fields: &Map<String, Value>,
    applies: impl Fn(&FieldDefinition) -> bool,
) -> Result<Definitions, ToolError> {
    let since = std::time::Instant::now();
    let defs = definitions_of(app, ep).await?;
    if fields::any_unknown(custom_fields, &defs, &applies) {
        return definitions_since(app, ep, Some(since)).await;
    }
    Ok(defs)
}

/// The tags in use at `ep` (`/{entity}/tags`, cached) as `(id, name)`.
pub async fn tags_in_use(app: &App, ep: &Endpoint) -> Result<Vec<(i64, String)>, ToolError> {
    tags_since(app, ep, None).await
}

/// As [`tags_in_use`]; with `since`, a list fetched before then is fetched again.
pub async fn tags_since(
    app: &App,
    ep: &Endpoint,
    since: Option<std::time::Instant>,
) -> Result<Vec<(i64, String)>, ToolError> {
    let tags = app
        .refdata
        .list_since(&app.client, (ep.path, ep.plural), &[], since)
        .await?;
    Ok(tags
        .iter()
        .filter_map(|t| {
            let id = t.get("id")?.as_i64()?;
            let name = t.get("name")?.as_str()?;
            Some((id, name.to_owned()))
        })
        .collect())
}

/// Resolves tag names (or ids) to the ids of tags in use at `ep` (`/{entity}/tags`, cached).
pub async fn tag_ids(app: &App, ep: &Endpoint, names: &[String]) -> Result<Vec<i64>, ToolError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let since = std::time::Instant::now();
    let mut tags = tags_in_use(app, ep).await?;
    let find = |tags: &[(i64, String)], name: &str| {
        let wanted = name.trim();
        tags.iter()
            .find(|(id, n)| n.eq_ignore_ascii_case(wanted) || id.to_string() == wanted)
            .cloned()
    };
    // A name the cached tags miss: fetch them again, once.
    if names.iter().any(|n| find(&tags, n).is_none()) {
        tags = tags_since(app, ep, Some(since)).await?;
    }
    let mut ids = Vec::new();
    for name in names {
        let found = find(&tags, name);
        match found {
            Some((id, _)) => ids.push(id),
            None => {
                return Err(ToolError::invalid(format!(
                    "no tag `{name}` to remove; tags in use: {}",
                    tags.iter()
                        .map(|(_, n)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(ids)
}

/// Sends a create (`id` None) or update, or returns the plan with `dry_run`.
pub async fn write<T>(
    app: &App,
    noun: &Noun,
    id: Option<(&str, i64)>,
    body: Map<String, Value>,
    dry_run: bool,
    map_fn: MapFn<T>,
) -> Result<WriteResult<T>, ToolError> {
    let target = match id {
        None => Target::Create,
        Some((given, n)) => Target::Update {
            id: n,
            missing: not_found(noun, given),
        },
    };
    if dry_run {
        let mut body = body;
        // A row deleted by value is sent by its id: the plan shows the one Capsule would get.
        if let Some((given, _)) = id
            && party::deletes_by_value(&body)
        {
            let current = fetch(app, noun, given, true).await?;
            party::reconcile_rows(&mut body, &current).map_err(ToolError::invalid)?;
        }
        return Ok(WriteResult::DryRun(target.plan(&PARTIES, body)));
    }
    if id.is_none() && body.is_empty() {
        return Err(ToolError::invalid("nothing to write"));
    }
    let mut body = body;
    if let Some((given, _)) = id {
        if body.is_empty() {
            return Err(ToolError::invalid(
                "nothing to change: give at least one field to update",
            ));
        }
        // Refuse to write contact fields onto an organisation (or the reverse), and leave out
        // rows and tags the record already has: the update stays idempotent.
        let current = fetch(app, noun, given, true).await?;
        party::reconcile_rows(&mut body, &current).map_err(ToolError::invalid)?;
        if body.is_empty() {
            let defs = definitions_for(app, &[&current]).await?;
            return Ok(WriteResult::Record(map_fn(&current, &defs, false)?));
        }
    }
    let raw = target.send(app, &PARTIES, body, Some(party::EMBED)).await?;
    let defs = definitions_for(app, &[&raw]).await?;
    Ok(WriteResult::Record(map_fn(&raw, &defs, false)?))
}

/// A create tool carries no update-only text: list items have no row `id` or `delete`.
pub fn create_only(spec: super::ToolSpec) -> super::ToolSpec {
    ["email_addresses", "phone_numbers", "addresses", "urls"]
        .iter()
        .fold(spec, |s, list| s.without(&[list], &["id", "delete"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_are_prefixes_or_a_few_edits_away() {
        let names = [
            "Customer",
            "Prospect",
            "VIP",
            "Supplier",
            "Lead",
            "Lead Score",
        ];
        assert_eq!(close_matches("Custmer", &names), ["Customer"]);
        assert_eq!(close_matches("vi", &names), ["VIP"]);
        assert_eq!(close_matches("lead", &names), ["Lead", "Lead Score"]);
        assert_eq!(close_matches("PROSPEKT", &names), ["Prospect"]);
        assert!(close_matches("Invoice", &names).is_empty());
        assert!(close_matches("", &names).is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
