//! Notes: timeline entries of type `note` on contacts, accounts, opportunities and projects.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Kind, Meta, ToolError, ToolSpec,
    contacts::{DeleteById, GetById},
    entries::{self, EntryFilters, Noun},
    list::{Detail, Paging},
    tool,
    write::record_id,
};
use crate::capsule::map::entry::{self, EntryWrite};
use crate::unified::{Deleted, ListResult, Note, WriteResult};

const NOUN: Noun = Noun {
    noun: "note",
    list_tool: "crm_list_notes",
    notes_only: true,
};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListNotes {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(flatten)]
    pub filters: EntryFilters,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateNote {
    pub content: String,
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
    pub occurred_at: Option<String>,
    /// From crm_list_engagement_types; default `-1` Note.
    #[serde(default)]
    pub activity_type_id: Option<String>,
    #[serde(default)]
    pub remote_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateNote {
    pub id: String,
    #[serde(default)]
    pub content: Option<String>,
    /// When it happened, ISO-8601.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// From crm_list_engagement_types.
    #[serde(default)]
    pub activity_type_id: Option<String>,
    #[serde(default)]
    pub remote_data: Option<Map<String, Value>>,
    #[serde(default)]
    pub dry_run: bool,
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_notes",
                title: "List notes",
                description: "Newest first. One record filter at most; with it `limit` ≤ 50.",
                toolset: "notes",
                kind: Kind::Read,
            },
            |app, a: ListNotes, cx| async move {
                let given = entries::filters_json(&a.filters, &[]);
                let (f, _) = entries::effective_filters(&NOUN, &a.paging, &given)?;
                let q = entries::query(&f, &a.paging)?;
                let out: ListResult<Note> =
                    entries::list(app, &cx, &NOUN, (&a.paging, a.detail), given, q, entry::to_note).await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_note",
                title: "Get note",
                description: "Emails and completed tasks: crm_get_engagement.",
                toolset: "notes",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                entries::get(&app, &NOUN, &a.id, a.include_remote_data, entry::to_note).await
            },
        ),
        tool(
            Meta {
                name: "crm_create_note",
                title: "Create note",
                description: "On exactly one of `account_id`, `contact_id`, `opportunity_id`, `project_id`.",
                toolset: "notes",
                kind: Kind::Create,
            },
            |app, a: CreateNote, _cx| async move {
                let link = entry::one_link(entry::LinkArgs {
                    account_id: a.account_id.as_deref(),
                    contact_id: a.contact_id.as_deref(),
                    opportunity_id: a.opportunity_id.as_deref(),
                    project_id: a.project_id.as_deref(),
                })
                .map_err(ToolError::invalid)?;
                let body = entry::entry_body(
                    &EntryWrite {
                        link: Some(link),
                        content: Some(&a.content),
                        entry_at: a.occurred_at.as_deref(),
                        entry_at_name: "occurred_at",
                        activity_type_id: entries::opt_type_id(
                            "activity_type_id",
                            &a.activity_type_id,
                        )?,
                        remote_data: a.remote_data.as_ref(),
                    },
                    true,
                )
                .map_err(ToolError::invalid)?;
                let out: WriteResult<Note> =
                    entries::write(&app, &NOUN, None, body, a.dry_run, entry::to_note).await?;
                Ok(out)
            },
        )
        .require(&["content"]),
        tool(
            Meta {
                name: "crm_update_note",
                title: "Update note",
                description: "Its text, time or activity type.",
                toolset: "notes",
                kind: Kind::Update,
            },
            |app, a: UpdateNote, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
                let body = entry::entry_body(
                    &EntryWrite {
                        link: None,
                        content: a.content.as_deref(),
                        entry_at: a.occurred_at.as_deref(),
                        entry_at_name: "occurred_at",
                        activity_type_id: entries::opt_type_id(
                            "activity_type_id",
                            &a.activity_type_id,
                        )?,
                        remote_data: a.remote_data.as_ref(),
                    },
                    false,
                )
                .map_err(ToolError::invalid)?;
                let out: WriteResult<Note> = entries::write(
                    &app,
                    &NOUN,
                    Some((&a.id, n)),
                    body,
                    a.dry_run,
                    entry::to_note,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_delete_note",
                title: "Delete note",
                description: "For good, with its attachments.",
                toolset: "notes",
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
