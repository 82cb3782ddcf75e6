//! Machinery shared by notes and engagements, which are both Capsule entries.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    CallCx, ToolError,
    list::{self, DEFAULT_LIMIT, Detail, Fetched, Paging},
    write::{Target, plan, record_id},
};
use crate::app::App;
use crate::capsule::{
    CapsuleError,
    endpoint::{ACTIVITY_TYPES, ENTRIES},
    map::{
        self, decode_err,
        entry::{self, Link, LinkArgs},
    },
    page::MAX_ENTRIES_PER_PAGE,
    wire::{self, ActivityType},
};
use crate::unified::{Deleted, ListResult, Summary, WriteResult};

pub type MapFn<T> = fn(&Value, bool) -> Result<T, CapsuleError>;

/// How notes or engagements present themselves to the model.
pub struct Noun {
    /// `note` / `engagement`
    pub noun: &'static str,
    pub list_tool: &'static str,
    /// Only entries of Capsule type `note` belong to it.
    pub notes_only: bool,
}

/// The filters every entry list takes; also what its cursor keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct EntryFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_after: Option<String>,
}

impl EntryFilters {
    pub fn links(&self) -> LinkArgs<'_> {
        LinkArgs {
            account_id: self.account_id.as_deref(),
            contact_id: self.contact_id.as_deref(),
            opportunity_id: self.opportunity_id.as_deref(),
            project_id: self.project_id.as_deref(),
        }
    }
}

/// A checked entry list query.
#[derive(Clone)]
pub struct Query {
    pub link: Option<Link>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Engagements only: keep entries of this `engagement_type` (compared ignoring case).
    pub engagement_type: Option<String>,
}

/// Checks the filters (and, for a record's timeline, the page size: Capsule serves at most 50).
pub fn query(f: &EntryFilters, paging: &Paging) -> Result<Query, ToolError> {
    let link = entry::at_most_one_link(f.links()).map_err(ToolError::invalid)?;
    if link.is_some()
        && paging.cursor.is_none()
        && paging.limit.unwrap_or(DEFAULT_LIMIT) > MAX_ENTRIES_PER_PAGE
    {
        return Err(ToolError::invalid(format!(
            "`limit` can be at most {MAX_ENTRIES_PER_PAGE} with a record filter (Capsule pages \
             a record's timeline by {MAX_ENTRIES_PER_PAGE})"
        )));
    }
    Ok(Query {
        link,
        updated_after: f
            .updated_after
            .as_deref()
            .map(|t| map::parse_timestamp("updated_after", t).map_err(ToolError::invalid))
            .transpose()?,
        engagement_type: None,
    })
}

/// Filters given in this call, as a cursor keeps them.
pub fn filters_json(f: &EntryFilters, extra: &[(&str, &Option<String>)]) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    if let Value::Object(m) = &mut v {
        for (k, val) in extra {
            if let Some(val) = val {
                m.insert((*k).to_owned(), Value::String(val.clone()));
            }
        }
    }
    v
}

/// The filters in force: the cursor's when one is given, else this call's.
pub fn effective_filters(
    noun: &Noun,
    paging: &Paging,
    given: &Value,
) -> Result<(EntryFilters, Value), ToolError> {
    let f = list::filters_of(noun.list_tool, paging)?.unwrap_or_else(|| given.clone());
    let parsed: EntryFilters = serde_json::from_value(f.clone())
        .map_err(|_| ToolError::invalid("`cursor` carries filters this tool does not take"))?;
    Ok((parsed, f))
}

/// One page (or with `fetch_all` several) of a record's timeline or of every entry.
pub async fn list<T: Summary + Serialize + Send + 'static>(
    app: Arc<App>,
    cx: &CallCx,
    noun: &Noun,
    (paging, detail): (&Paging, Detail),
    given: Value,
    q: Query,
    map_fn: MapFn<T>,
) -> Result<ListResult<T>, ToolError> {
    let include_raw = paging.include_remote_data;
    let notes_only = noun.notes_only;
    // A record's timeline is served 50 a page at most.
    let cap = if q.link.is_some() {
        MAX_ENTRIES_PER_PAGE
    } else {
        list::MAX_LIMIT
    };
    list::run_capped(noun.list_tool, paging, given, cx, cap, |page, per_page| {
        let app = app.clone();
        let q = q.clone();
        async move {
            let req = entry::list_request(q.link, page, per_page);
            let fetched = app.client.list_page(&req, ENTRIES.plural).await?;
            let items = fetched
                .items
                .iter()
                .filter(|raw| !notes_only || entry::is_note(raw))
                .filter(|raw| {
                    q.updated_after
                        .is_none_or(|after| entry::updated_after(raw, &after))
                })
                .filter(|raw| {
                    q.engagement_type.as_deref().is_none_or(|want| {
                        entry::engagement_type_of_raw(raw)
                            .is_some_and(|t| t.eq_ignore_ascii_case(want))
                    })
                })
                .map(|raw| {
                    map_fn(raw, include_raw)
                        .map(|r| detail.apply(r))
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

/// The raw entry `id`; for notes, refuses an entry that is not a note.
pub async fn fetch(app: &App, noun: &Noun, id: &str) -> Result<Value, ToolError> {
    let n = record_id(id, noun.noun, noun.list_tool)?;
    let raw = app
        .client
        .show(
            &ENTRIES,
            n,
            &[("embed".to_owned(), entry::EMBED.to_owned())],
        )
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(noun, id)))?;
    if noun.notes_only && !entry::is_note(&raw) {
        let kind = entry::entry_type(&raw).unwrap_or("another kind of entry");
        return Err(ToolError::not_found(format!(
            "no note {id}: that entry is of type `{kind}`; use the crm_*_engagement tools for it"
        )));
    }
    Ok(raw)
}

pub async fn get<T>(
    app: &App,
    noun: &Noun,
    id: &str,
    include_raw: bool,
    map_fn: MapFn<T>,
) -> Result<T, ToolError> {
    let raw = fetch(app, noun, id).await?;
    Ok(map_fn(&raw, include_raw)?)
}

/// Sends a create (`id` None) or update, or returns the plan with `dry_run`. For notes an
/// update first checks that the entry is a note.
pub async fn write<T>(
    app: &App,
    noun: &Noun,
    id: Option<(&str, i64)>,
    body: Map<String, Value>,
    dry_run: bool,
    map_fn: MapFn<T>,
) -> Result<WriteResult<T>, ToolError> {
    if id.is_some() && body.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give at least one field to update",
        ));
    }
    // Checked before a dry run too: the plan must be one the real call would send.
    if let Some((given, _)) = id
        && noun.notes_only
    {
        fetch(app, noun, given).await?;
    }
    let target = match id {
        None => Target::Create,
        Some((given, n)) => Target::Update {
            id: n,
            missing: not_found(noun, given),
        },
    };
    if dry_run {
        return Ok(WriteResult::DryRun(target.plan(&ENTRIES, body)));
    }
    let raw = target.send(app, &ENTRIES, body, Some(entry::EMBED)).await?;
    Ok(WriteResult::Record(map_fn(&raw, false)?))
}

/// Deletes; for notes after checking the entry is a note.
pub async fn delete(
    app: &App,
    noun: &Noun,
    id: &str,
    dry_run: bool,
) -> Result<WriteResult<Deleted>, ToolError> {
    let n = record_id(id, noun.noun, noun.list_tool)?;
    // Checked before a dry run too: the plan must be one the real call would send.
    if noun.notes_only {
        fetch(app, noun, id).await?;
    }
    if dry_run {
        return Ok(WriteResult::DryRun(plan(
            "DELETE",
            format!("{}/{n}", ENTRIES.path),
            ENTRIES.single,
            None,
        )));
    }
    app.client
        .delete(&ENTRIES, n)
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(noun, id)))?;
    Ok(WriteResult::Record(Deleted {
        id: n.to_string(),
        deleted: true,
    }))
}

/// Activity types (cached).
pub async fn activity_types(app: &App) -> Result<Vec<(Value, ActivityType)>, ToolError> {
    activity_types_since(app, None).await
}

/// As [`activity_types`]; with `since`, a list fetched before then is fetched again.
pub async fn activity_types_since(
    app: &App,
    since: Option<std::time::Instant>,
) -> Result<Vec<(Value, ActivityType)>, ToolError> {
    let ep = (ACTIVITY_TYPES.path, ACTIVITY_TYPES.plural);
    let items = app.refdata.list_since(&app.client, ep, &[], since).await?;
    items
        .iter()
        .map(|v| {
            wire::decode::<ActivityType>(v)
                .map(|a| (v.clone(), a))
                .map_err(|e| ToolError::from(decode_err(e)))
        })
        .collect()
}

/// Parses an optional record id argument.
pub fn opt_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_id(what, s).map_err(ToolError::invalid))
        .transpose()
}

/// Parses an optional activity type id (negative for the built-in types).
pub fn opt_type_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_type_id(what, s).map_err(ToolError::invalid))
        .transpose()
}
