//! Tasks: to-dos with a due date, linked to at most one record.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    list::{self, Detail, Fetched, Paging},
    resolve, tool,
    write::{Target, plan, record_id},
};
use crate::app::App;
use crate::capsule::{
    endpoint::{CATEGORIES, TASKS},
    map::{
        self,
        task::{self as task_map, Query},
    },
};
use crate::unified::{Deleted, ListResult, Task, WriteResult, task::TaskFields};

const NOUN: &str = "task";
const LIST_TOOL: &str = "crm_list_tasks";

/// The filters of crm_list_tasks; also what a cursor carries.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TaskFilters {
    /// open (default), completed, pending or all
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTasks {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(flatten)]
    pub filters: TaskFilters,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetTask {
    pub id: String,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTask {
    #[serde(flatten)]
    pub fields: TaskFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateTask {
    pub id: String,
    #[serde(flatten)]
    pub fields: TaskFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteTask {
    pub id: String,
    #[serde(default)]
    pub dry_run: bool,
}

fn opt_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_id(what, s).map_err(ToolError::invalid))
        .transpose()
}

pub fn query(f: &TaskFilters) -> Result<Query, ToolError> {
    let links = [
        &f.account_id,
        &f.contact_id,
        &f.opportunity_id,
        &f.project_id,
    ];
    if links.iter().filter(|l| l.is_some()).count() > 1 {
        return Err(ToolError::invalid(
            "a task links at most one record: give one of `account_id`, `contact_id`, \
             `opportunity_id`, `project_id`",
        ));
    }
    Ok(Query {
        status: f
            .status
            .as_deref()
            .map(|s| task_map::status_param(s).map_err(ToolError::invalid))
            .transpose()?,
        owner_id: opt_id("owner_id", &f.owner_id)?,
        account_id: opt_id("account_id", &f.account_id)?,
        contact_id: opt_id("contact_id", &f.contact_id)?,
        opportunity_id: opt_id("opportunity_id", &f.opportunity_id)?,
        project_id: opt_id("project_id", &f.project_id)?,
        updated_after: f
            .updated_after
            .as_deref()
            .map(|t| map::parse_timestamp("updated_after", t).map_err(ToolError::invalid))
            .transpose()?,
    })
}

async fn list(
    app: Arc<App>,
    cx: &CallCx,
    (paging, detail): (&Paging, Detail),
    filters: &TaskFilters,
) -> Result<ListResult<Task>, ToolError> {
    let mut named = filters.clone();
    resolve::owner(&app, &mut named.owner_id).await?;
    let mut q = query(&named)?;
    let given = task_map::query_json(&q, filters.status.as_deref());
    if let Some(f) = list::filters_of(LIST_TOOL, paging)? {
        let f: TaskFilters = serde_json::from_value(f)
            .map_err(|_| ToolError::invalid("`cursor` is damaged; call again without `cursor`"))?;
        q = query(&f)?;
    }
    let include_raw = paging.include_remote_data;
    list::run(LIST_TOOL, paging, given, cx, |page, per_page| {
        let app = app.clone();
        let q = q.clone();
        async move {
            let req = task_map::list_request(&q, page, per_page);
            let fetched = app.client.list_page(&req, TASKS.plural).await?;
            let kept: Vec<&Value> = fetched
                .items
                .iter()
                .filter(|raw| task_map::matches(&q, raw))
                .collect();
            let users = users_for(&app, &kept).await?;
            let items = kept
                .into_iter()
                .map(|raw| {
                    task_map::to_task(raw, &users, include_raw)
                        .map(|t| detail.apply(t))
                        .map_err(ToolError::from)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Fetched {
                items,
                has_next: fetched.next.is_some(),
            })
        }
    })
    .await
}

fn not_found(id: &str) -> String {
    format!("no task {id}; find ids with {LIST_TOOL}")
}

/// Resolves a category name through the cached `/categories`.
async fn category(app: &App, f: &TaskFields) -> Result<Option<Option<i64>>, ToolError> {
    let Some(name) = &f.type_name else {
        return Ok(None);
    };
    let cats = app
        .refdata
        .list(&app.client, CATEGORIES.path, CATEGORIES.plural, &[])
        .await?;
    let found = cats.iter().find(|c| {
        c.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.trim()))
    });
    match found.and_then(|c| c.get("id").and_then(Value::as_i64)) {
        Some(id) => Ok(Some(Some(id))),
        None => Err(ToolError::invalid(format!(
            "no task type `{name}`; valid types: {}",
            cats.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn write(
    app: &App,
    f: &TaskFields,
    id: Option<(&str, i64)>,
    dry_run: bool,
) -> Result<WriteResult<Task>, ToolError> {
    let create = id.is_none();
    task_map::check(f, create).map_err(ToolError::invalid)?;
    let cat = category(app, f).await?;
    let body = task_map::task_body(f, cat, create).map_err(ToolError::invalid)?;
    let target = match id {
        None => Target::Create,
        Some((given, n)) => Target::Update {
            id: n,
            missing: not_found(given),
        },
    };
    if dry_run {
        return Ok(WriteResult::DryRun(target.plan(&TASKS, body)));
    }
    if body.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give at least one field to update",
        ));
    }
    let raw = target.send(app, &TASKS, body, None).await?;
    let users = users_for(app, &[&raw]).await?;
    Ok(WriteResult::Record(task_map::to_task(&raw, &users, false)?))
}

async fn get(app: &App, id: &str, include_raw: bool) -> Result<Task, ToolError> {
    let n = record_id(id, NOUN, LIST_TOOL)?;
    let raw = app
        .client
        .show(&TASKS, n, &[])
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(id)))?;
    let users = users_for(app, &[&raw]).await?;
    Ok(task_map::to_task(&raw, &users, include_raw)?)
}

/// The account's users (cached), fetched only when a task needs them for `completed_by`.
async fn users_for(app: &App, raws: &[&Value]) -> Result<Vec<Value>, ToolError> {
    if raws.iter().any(|r| task_map::needs_users(r)) {
        Ok(super::users::all_users(app).await?.as_ref().clone())
    } else {
        Ok(Vec::new())
    }
}

async fn delete(app: &App, id: &str, dry_run: bool) -> Result<WriteResult<Deleted>, ToolError> {
    let n = record_id(id, NOUN, LIST_TOOL)?;
    if dry_run {
        return Ok(WriteResult::DryRun(plan(
            "DELETE",
            format!("{}/{n}", TASKS.path),
            TASKS.single,
            None,
        )));
    }
    app.client
        .delete(&TASKS, n)
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(id)))?;
    Ok(WriteResult::Record(Deleted {
        id: n.to_string(),
        deleted: true,
    }))
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_tasks",
                title: "List tasks",
                description: "Open ones unless `status`. Some filters apply per page.",
                toolset: "tasks",
                kind: Kind::Read,
            },
            |app, a: ListTasks, cx| async move {
                list(app, &cx, (&a.paging, a.detail), &a.filters).await
            },
        ),
        tool(
            Meta {
                name: "crm_get_task",
                title: "Get task",
                description: "By id.",
                toolset: "tasks",
                kind: Kind::Read,
            },
            |app, a: GetTask, _cx| async move { get(&app, &a.id, a.include_remote_data).await },
        ),
        tool(
            Meta {
                name: "crm_create_task",
                title: "Create task",
                description: "Links at most one record.",
                toolset: "tasks",
                kind: Kind::Create,
            },
            |app, mut a: CreateTask, _cx| async move {
                resolve::owner(&app, &mut a.fields.owner_id).await?;
                write(&app, &a.fields, None, a.dry_run).await
            },
        )
        .require(&["subject", "due_date"]),
        tool(
            Meta {
                name: "crm_update_task",
                title: "Update task",
                description: "Null clears a field.",
                toolset: "tasks",
                kind: Kind::Update,
            },
            |app, mut a: UpdateTask, _cx| async move {
                let n = record_id(&a.id, NOUN, LIST_TOOL)?;
                resolve::owner(&app, &mut a.fields.owner_id).await?;
                write(&app, &a.fields, Some((&a.id, n)), a.dry_run).await
            },
        ),
        tool(
            Meta {
                name: "crm_delete_task",
                title: "Delete task",
                description: "For good, no undo.",
                toolset: "tasks",
                kind: Kind::Delete,
            },
            |app, a: DeleteTask, _cx| async move { delete(&app, &a.id, a.dry_run).await },
        ),
    ]
}
