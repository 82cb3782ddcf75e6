//! Engagements: every timeline entry (notes, calls, meetings, emails, completed tasks) with
//! its kind, `engagement_type`. Creating one writes a note entry of the chosen activity type.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Kind, Meta, ToolError, ToolSpec,
    contacts::{DeleteById, GetById},
    entries::{self, EntryFilters, Noun},
    list::{Detail, Paging},
    resolve, tool,
    write::record_id,
};
use crate::app::App;
use crate::capsule::map::entry::{self, BUILT_IN_NAMES, EntryWrite};
use crate::unified::{Deleted, Engagement, ListResult, WriteResult};

const NOUN: Noun = Noun {
    noun: "engagement",
    list_tool: "crm_list_engagements",
    notes_only: false,
};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListEngagements {
    #[serde(flatten)]
    pub paging: Paging,
    /// `full`: whole records.
    #[serde(default)]
    pub detail: Detail,
    #[serde(flatten)]
    pub filters: EntryFilters,
    /// `note`, `call`, `meeting`, `email`, `task_completed` or a custom type
    /// (crm_list_engagement_types). Filtered per page.
    #[serde(default)]
    pub engagement_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateEngagement {
    pub content: String,
    /// `call`, `meeting`, `note` (default), `task_completed` or a custom type's name.
    #[serde(default)]
    pub engagement_type: Option<String>,
    /// Engagement type id from crm_list_engagement_types, instead of `engagement_type`.
    #[serde(default)]
    pub engagement_type_id: Option<String>,
    /// The account (organisation) it is on. Give exactly one of `account_id`, `contact_id`,
    /// `opportunity_id`, `project_id`.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The contact (person) it is on.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The opportunity it is on.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// The project it is on.
    #[serde(default)]
    pub project_id: Option<String>,
    /// When it happened, ISO-8601 (default now).
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub remote_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateEngagement {
    pub id: String,
    #[serde(default)]
    pub content: Option<String>,
    /// New kind: `call`, `meeting`, `note`, `task_completed` or a custom type's name.
    #[serde(default)]
    pub engagement_type: Option<String>,
    /// New engagement type id, instead of `engagement_type`.
    #[serde(default)]
    pub engagement_type_id: Option<String>,
    /// When it happened, ISO-8601.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub remote_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The activity type id of `engagement_type` / `engagement_type_id` (names resolved through
/// the cached activity types).
async fn activity_type_id(
    app: &App,
    name: &Option<String>,
    id: &Option<String>,
) -> Result<Option<i64>, ToolError> {
    match (name, id) {
        (Some(_), Some(_)) => Err(ToolError::invalid(
            "give `engagement_type` or `engagement_type_id`, not both",
        )),
        (None, id) => entries::opt_type_id("engagement_type_id", id),
        (Some(name), None) => resolve::activity_type(app, name).await.map(Some),
    }
}

/// Checks an `engagement_type` filter: a built-in name costs nothing; another name must be a
/// custom activity type (cached).
async fn engagement_type_filter(
    app: &App,
    name: Option<&str>,
) -> Result<Option<String>, ToolError> {
    let Some(name) = name.map(str::trim) else {
        return Ok(None);
    };
    if let Some(b) = BUILT_IN_NAMES.iter().find(|b| b.eq_ignore_ascii_case(name)) {
        return Ok(Some((*b).to_owned()));
    }
    resolve::engagement_type_name(app, name).await.map(Some)
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_engagements",
                title: "List engagements",
                description: "List timeline entries (notes, calls, meetings, emails, completed tasks), newest first. At most one record filter; with one, `limit` ≤ 50.",
                toolset: "engagements",
                kind: Kind::Read,
            },
            |app, a: ListEngagements, cx| async move {
                let given =
                    entries::filters_json(&a.filters, &[("engagement_type", &a.engagement_type)]);
                let (f, effective) = entries::effective_filters(&NOUN, &a.paging, &given)?;
                let mut q = entries::query(&f, &a.paging)?;
                let wanted = effective.get("engagement_type").and_then(Value::as_str);
                q.engagement_type = engagement_type_filter(&app, wanted).await?;
                let out: ListResult<Engagement> = entries::list(
                    app,
                    &cx,
                    &NOUN,
                    (&a.paging, a.detail),
                    given,
                    q,
                    entry::to_engagement,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_engagement",
                title: "Get engagement",
                description: "Get one timeline entry (note, call, meeting, email, completed task) with participants and attachments.",
                toolset: "engagements",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                entries::get(
                    &app,
                    &NOUN,
                    &a.id,
                    a.include_remote_data,
                    entry::to_engagement,
                )
                .await
            },
        ),
        tool(
            Meta {
                name: "crm_create_engagement",
                title: "Create engagement",
                description: "Log a call, meeting, note or custom type on one of `account_id`, `contact_id`, `opportunity_id`, `project_id`. Needs `content`. Emails cannot be created.",
                toolset: "engagements",
                kind: Kind::Create,
            },
            |app, a: CreateEngagement, _cx| async move {
                let link = entry::one_link(entry::LinkArgs {
                    account_id: a.account_id.as_deref(),
                    contact_id: a.contact_id.as_deref(),
                    opportunity_id: a.opportunity_id.as_deref(),
                    project_id: a.project_id.as_deref(),
                })
                .map_err(ToolError::invalid)?;
                let mut w = EntryWrite {
                    link: Some(link),
                    content: Some(&a.content),
                    entry_at: a.start_time.as_deref(),
                    entry_at_name: "start_time",
                    activity_type_id: None,
                    remote_data: a.remote_data.as_ref(),
                };
                // Check the body before resolving names, so bad input costs no request.
                entry::entry_body(&w, true).map_err(ToolError::invalid)?;
                w.activity_type_id =
                    activity_type_id(&app, &a.engagement_type, &a.engagement_type_id).await?;
                let body = entry::entry_body(&w, true).map_err(ToolError::invalid)?;
                let out: WriteResult<Engagement> =
                    entries::write(&app, &NOUN, None, body, a.dry_run, entry::to_engagement)
                        .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_update_engagement",
                title: "Update engagement",
                description: "Change an engagement's text, time or type.",
                toolset: "engagements",
                kind: Kind::Update,
            },
            |app, a: UpdateEngagement, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
                let mut w = EntryWrite {
                    link: None,
                    content: a.content.as_deref(),
                    entry_at: a.start_time.as_deref(),
                    entry_at_name: "start_time",
                    activity_type_id: None,
                    remote_data: a.remote_data.as_ref(),
                };
                let plain = entry::entry_body(&w, false).map_err(ToolError::invalid)?;
                if plain.is_empty() && a.engagement_type.is_none() && a.engagement_type_id.is_none()
                {
                    return Err(ToolError::invalid(
                        "nothing to change: give at least one field to update",
                    ));
                }
                w.activity_type_id =
                    activity_type_id(&app, &a.engagement_type, &a.engagement_type_id).await?;
                let body = entry::entry_body(&w, false).map_err(ToolError::invalid)?;
                let out: WriteResult<Engagement> = entries::write(
                    &app,
                    &NOUN,
                    Some((&a.id, n)),
                    body,
                    a.dry_run,
                    entry::to_engagement,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_delete_engagement",
                title: "Delete engagement",
                description: "Delete a timeline entry for good, with its attachments.",
                toolset: "engagements",
                kind: Kind::Delete,
            },
            |app, a: DeleteById, _cx| async move {
                let out: WriteResult<Deleted> =
                    entries::delete(&app, &NOUN, &a.id, a.dry_run).await?;
                Ok(out)
            },
        ),
    ]
}
