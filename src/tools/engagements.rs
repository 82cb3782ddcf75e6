//! Engagements: every timeline entry (notes, calls, meetings, emails, completed tasks) with
//! its kind, `engagement_type`. Creating one writes a note entry of the chosen activity type.
//!
//! Call details (`direction`, `duration_seconds`, `outcome`, `recording_url`) have no Capsule
//! field: they are kept as a `--- Call details ---` block of `Key: value` lines at the end of
//! the entry's text (the form is documented in [`crate::capsule::map::entry::details`]) and
//! read back from it; `content` is the text without the block. An update reads the entry
//! first, so changing one detail or the text keeps the rest. `occurred_at` is `start_time`
//! under the name notes use: Capsule's `entryAt`.

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
use crate::capsule::map::entry::{
    self, BUILT_IN_NAMES, EntryWrite,
    details::{self, CallDetails},
};
use crate::unified::{
    Deleted, Engagement, ListResult, WriteResult, engagement::Direction, input::double_option,
};

const NOUN: Noun = Noun {
    noun: "engagement",
    list_tool: "crm_list_engagements",
    notes_only: false,
};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListEngagements {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(flatten)]
    pub filters: EntryFilters,
    /// E.g. `call`; per page.
    #[serde(default)]
    pub engagement_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateEngagement {
    pub content: String,
    /// `call`, `meeting`, `note` (default), `task_completed` or custom.
    #[serde(default)]
    pub engagement_type: Option<String>,
    #[serde(default)]
    pub engagement_type_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    /// Default now.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(flatten)]
    pub call: CallArgs,
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
    #[serde(default)]
    pub engagement_type: Option<String>,
    #[serde(default)]
    pub engagement_type_id: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(flatten)]
    pub call: CallArgs,
    #[serde(default)]
    pub remote_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// Call details and `occurred_at`, on create and update.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CallArgs {
    #[serde(default, deserialize_with = "double_option")]
    pub direction: Option<Option<Direction>>,
    #[serde(default, deserialize_with = "double_option")]
    pub duration_seconds: Option<Option<u32>>,
    /// e.g. `connected`, `voicemail`.
    #[serde(default, deserialize_with = "double_option")]
    pub outcome: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub recording_url: Option<Option<String>>,
    /// Same as `start_time`.
    #[serde(default)]
    pub occurred_at: Option<String>,
}

impl CallArgs {
    fn any_detail(&self) -> bool {
        self.direction.is_some()
            || self.duration_seconds.is_some()
            || self.outcome.is_some()
            || self.recording_url.is_some()
    }

    /// `current` with the given details set (`null` clears one); values checked.
    fn apply(&self, mut current: CallDetails) -> Result<CallDetails, ToolError> {
        if let Some(v) = self.direction {
            current.direction = v;
        }
        if let Some(v) = self.duration_seconds {
            current.duration_seconds = v;
        }
        if let Some(v) = &self.outcome {
            current.outcome = v
                .as_deref()
                .map(details::check_outcome)
                .transpose()
                .map_err(ToolError::invalid)?;
        }
        if let Some(v) = &self.recording_url {
            current.recording_url = v
                .as_deref()
                .map(details::check_recording_url)
                .transpose()
                .map_err(ToolError::invalid)?;
        }
        Ok(current)
    }

    /// The `entryAt` argument: `start_time` or `occurred_at` (both only when equal).
    fn entry_at<'a>(
        &'a self,
        start_time: Option<&'a str>,
    ) -> Result<(Option<&'a str>, &'static str), ToolError> {
        match (start_time, self.occurred_at.as_deref()) {
            (Some(s), Some(o)) if s.trim() != o.trim() => Err(ToolError::invalid(
                "give `start_time` or `occurred_at`, not both: they are the same time",
            )),
            (Some(s), _) => Ok((Some(s), "start_time")),
            (None, o) => Ok((o, "occurred_at")),
        }
    }
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
                description: "Timeline entries, newest first. One record filter at most; with it `limit` ≤ 50.",
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
                description: "With participants.",
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
                description: "Log a call, meeting, note or custom type on exactly one of `account_id`, `contact_id`, `opportunity_id`, `project_id`. Not emails.",
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
                let (entry_at, entry_at_name) = a.call.entry_at(a.start_time.as_deref())?;
                let call = a.call.apply(CallDetails::default())?;
                let content = if a.content.trim().is_empty() {
                    // Left for the body check to refuse.
                    a.content.clone()
                } else {
                    details::encode(&a.content, &call)
                };
                let mut w = EntryWrite {
                    link: Some(link),
                    content: Some(&content),
                    entry_at,
                    entry_at_name,
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
                description: "Its text, time, type or call details.",
                toolset: "engagements",
                kind: Kind::Update,
            },
            |app, a: UpdateEngagement, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
                let (entry_at, entry_at_name) = a.call.entry_at(a.start_time.as_deref())?;
                let mut w = EntryWrite {
                    link: None,
                    content: a.content.as_deref(),
                    entry_at,
                    entry_at_name,
                    activity_type_id: None,
                    remote_data: a.remote_data.as_ref(),
                };
                // Checked before any request: bad input costs none.
                let plain = entry::entry_body(&w, false).map_err(ToolError::invalid)?;
                a.call.apply(CallDetails::default())?;
                if plain.is_empty()
                    && !a.call.any_detail()
                    && a.engagement_type.is_none()
                    && a.engagement_type_id.is_none()
                {
                    return Err(ToolError::invalid(
                        "nothing to change: give at least one field to update",
                    ));
                }
                // The text and the details share Capsule's `content`: read the entry, so
                // what is not given is kept.
                let content = if a.content.is_some() || a.call.any_detail() {
                    let raw = entries::fetch(&app, &NOUN, &a.id).await?;
                    let stored = raw.get("content").and_then(Value::as_str).unwrap_or("");
                    let (text, current) = details::parse(stored);
                    let text = a.content.clone().unwrap_or(text);
                    Some(details::encode(&text, &a.call.apply(current)?))
                } else {
                    None
                };
                w.content = content.as_deref();
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
                description: "For good, with its attachments.",
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
