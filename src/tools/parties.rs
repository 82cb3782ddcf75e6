//! Machinery shared by contacts and accounts, which are both Capsule parties.

use std::sync::Arc;

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

/// Party custom field definitions (cached).
pub async fn definitions(app: &App) -> Result<Vec<FieldDefinition>, ToolError> {
    definitions_of(app, &PARTY_FIELDS).await
}

/// Custom field definitions of any entity (cached).
pub async fn definitions_of(app: &App, ep: &Endpoint) -> Result<Vec<FieldDefinition>, ToolError> {
    definitions_since(app, ep, None).await
}

/// As [`definitions_of`]; with `since`, a list fetched before then is fetched again.
pub async fn definitions_since(
    app: &App,
    ep: &Endpoint,
    since: Option<std::time::Instant>,
) -> Result<Vec<FieldDefinition>, ToolError> {
    let items = app
        .refdata
        .list_since(&app.client, (ep.path, ep.plural), &[], since)
        .await?;
    items
        .iter()
        .map(|v| wire::decode::<FieldDefinition>(v).map_err(|e| ToolError::from(decode_err(e))))
        .collect()
}

/// Definitions are only needed when a record carries custom field values.
pub async fn definitions_for(
    app: &App,
    records: &[&Value],
) -> Result<Vec<FieldDefinition>, ToolError> {
    let any_fields = records.iter().any(|r| {
        r.get("fields")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if any_fields {
        definitions(app).await
    } else {
        Ok(Vec::new())
    }
}

fn opt_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_id(what, s).map_err(ToolError::invalid))
        .transpose()
}

/// Checks list filters; `account_id` only where the kind has it.
pub fn query(
    search: &Option<String>,
    updated_after: &Option<String>,
    account_id: &Option<String>,
    owner_id: &Option<String>,
    tag: &Option<String>,
) -> Result<Query, ToolError> {
    let search = match search.as_deref().map(str::trim) {
        Some("") => return Err(ToolError::invalid("`search` must not be empty")),
        other => other.map(str::to_owned),
    };
    let tag = match tag.as_deref().map(str::trim) {
        Some("") => return Err(ToolError::invalid("`tag` must not be empty")),
        other => other.map(str::to_owned),
    };
    Ok(Query {
        search,
        updated_after: updated_after
            .as_deref()
            .map(|t| map::parse_timestamp("updated_after", t).map_err(ToolError::invalid))
            .transpose()?,
        account_id: opt_id("account_id", account_id)?,
        owner_id: opt_id("owner_id", owner_id)?,
        tag,
    })
}

pub async fn list<T: Summary + WebLinked + serde::Serialize>(
    app: Arc<App>,
    cx: &CallCx,
    noun: &Noun,
    (paging, detail): (&Paging, Detail),
    mut q: Query,
    map_fn: MapFn<T>,
) -> Result<ListResult<T>, ToolError> {
    // With a cursor the filters are the cursor's; `list::run` refuses different ones.
    let given = party::query_json(&q);
    if let Some(f) = list::filters_of(noun.list_tool, paging)? {
        let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        q = query(
            &s("search"),
            &s("updated_after"),
            &s("account_id"),
            &s("owner_id"),
            &s("tag"),
        )?;
    }
    let filters = given;
    let include_raw = paging.include_remote_data;
    let kind = noun.kind;
    let site = full_site(&app, detail).await;
    list::run(noun.list_tool, paging, filters, cx, |page, per_page| {
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
            let items = kept
                .into_iter()
                .map(|raw| {
                    map_fn(raw, &defs, include_raw)
                        .map(|r| detail.apply(linked(site.as_deref(), r)))
                        .map_err(ToolError::from)
                })
                .collect::<Result<Vec<T>, _>>()?;
            Ok(Fetched {
                items,
                has_next: fetched.next.is_some(),
            })
        }
    })
    .await
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
) -> Result<Vec<FieldDefinition>, ToolError> {
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
        party::drop_existing_rows(&mut body, &current);
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
