//! Projects: Capsule kases, on boards of stages.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    list::{self, Detail, Fetched, Paging},
    parties, resolve, tool,
    write::{Target, plan, record_id},
};
use crate::app::App;
use crate::capsule::{
    endpoint::{KASE_FIELDS, KASE_TAGS, KASES, STAGES},
    map::{
        self, decode_err, fields,
        party::Resolved,
        pipeline::Entity,
        project::{self, Query},
    },
    refdata::linked,
    wire::{self, Stage},
};
use crate::unified::{Deleted, ListResult, Project, WriteResult, project::ProjectFields};

const NOUN: &str = "project";
const LIST_TOOL: &str = "crm_list_projects";

/// The filters of crm_list_projects; also what a cursor carries.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ProjectFilters {
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub opportunity_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub stage_id: Option<String>,
    /// From crm_list_pipelines, entity project.
    #[serde(default)]
    pub board_id: Option<String>,
    #[serde(flatten)]
    pub segment: parties::SegmentArgs,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListProjects {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(flatten)]
    pub filters: ProjectFilters,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetProject {
    pub id: String,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateProject {
    #[serde(flatten)]
    pub fields: ProjectFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateProject {
    pub id: String,
    #[serde(flatten)]
    pub fields: ProjectFields,
    #[serde(default)]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteProject {
    pub id: String,
    #[serde(default)]
    pub dry_run: bool,
}

fn opt_id(what: &str, v: &Option<String>) -> Result<Option<i64>, ToolError> {
    v.as_deref()
        .map(|s| map::parse_id(what, s).map_err(ToolError::invalid))
        .transpose()
}

fn non_empty(what: &str, v: &Option<String>) -> Result<Option<String>, ToolError> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(ToolError::invalid(format!("`{what}` must not be empty"))),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Checks the list filters.
pub fn query(f: &ProjectFilters) -> Result<Query, ToolError> {
    if f.account_id.is_some() && f.contact_id.is_some() {
        return Err(ToolError::invalid(
            "give one of `account_id` or `contact_id`",
        ));
    }
    Ok(Query {
        search: non_empty("search", &f.search)?,
        updated_after: f
            .updated_after
            .as_deref()
            .map(|t| map::parse_timestamp("updated_after", t).map_err(ToolError::invalid))
            .transpose()?,
        account_id: opt_id("account_id", &f.account_id)?,
        contact_id: opt_id("contact_id", &f.contact_id)?,
        opportunity_id: opt_id("opportunity_id", &f.opportunity_id)?,
        status: f
            .status
            .as_deref()
            .map(|s| project::wire_status(s).map_err(ToolError::invalid))
            .transpose()?,
        owner_id: opt_id("owner_id", &f.owner_id)?,
        tag: non_empty("tag", &f.tag)?,
        stage_id: opt_id("stage_id", &f.stage_id)?,
        board_id: opt_id("board_id", &f.board_id)?,
        segment: Default::default(),
    })
}

/// Project stages (cached): they give each project its board.
async fn stages(app: &App) -> Result<Vec<Stage>, ToolError> {
    let items = app
        .refdata
        .list(&app.client, STAGES.path, STAGES.plural, &[])
        .await?;
    items
        .iter()
        .map(|v| wire::decode::<Stage>(v).map_err(|e| ToolError::from(decode_err(e))))
        .collect()
}

fn has(raw: &Value, key: &str) -> bool {
    match raw.get(key) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

/// Maps raw kases, fetching (cached) reference data only when a record needs it.
async fn map_all(
    app: &App,
    raws: &[&Value],
    known_stages: Option<Vec<Stage>>,
    include_raw: bool,
) -> Result<Vec<Project>, ToolError> {
    let defs = if raws.iter().any(|r| has(r, "fields")) {
        parties::definitions_of(app, &KASE_FIELDS).await?
    } else {
        parties::Definitions::default()
    };
    let stages = match known_stages {
        Some(s) => s,
        None if raws.iter().any(|r| has(r, "stage")) => stages(app).await?,
        None => Vec::new(),
    };
    raws.iter()
        .map(|raw| project::to_project(raw, &defs, &stages, include_raw).map_err(ToolError::from))
        .collect()
}

async fn list(
    app: Arc<App>,
    cx: &CallCx,
    (paging, detail): (&Paging, Detail),
    filters: &ProjectFilters,
) -> Result<ListResult<Project>, ToolError> {
    let mut named = filters.clone();
    resolve::owner(&app, &mut named.owner_id).await?;
    resolve::head(&app, Entity::Project, &mut named.board_id).await?;
    let board = named.board_id.as_deref().and_then(resolve::as_id);
    if let Some(s) = named.stage_id.as_mut() {
        *s = resolve::stage(&app, Entity::Project, s, board)
            .await?
            .to_string();
    }
    let mut q = query(&named)?;
    let mut given = project::query_json(&q);
    filters.segment.echo(&mut given);
    // With a cursor the filters are the cursor's; `list::run` refuses different ones.
    let mut seg = filters.segment.clone();
    if let Some(f) = list::filters_of(LIST_TOOL, paging)? {
        let f: ProjectFilters = serde_json::from_value(f)
            .map_err(|_| ToolError::invalid("`cursor` is damaged; call again without `cursor`"))?;
        q = query(&f)?;
        seg = f.segment;
    }
    q.segment = parties::segment(
        &app,
        &parties::SegmentSource {
            fields: &KASE_FIELDS,
            tags: &KASE_TAGS,
            entity_type: "project",
        },
        |_| true,
        q.tag.as_deref(),
        &seg,
    )
    .await?;
    let include_raw = paging.include_remote_data;
    let site = parties::full_site(&app, detail).await;
    list::run(LIST_TOOL, paging, given, cx, |page, per_page| {
        let app = app.clone();
        let q = q.clone();
        let site = site.clone();
        async move {
            let (req, rest) = project::list_request(&q, page, per_page);
            let fetched = app.client.list_page(&req, KASES.plural).await?;
            let stages = if rest.board_id.is_some() {
                Some(stages(&app).await?)
            } else {
                None
            };
            let kept: Vec<&Value> = fetched
                .items
                .iter()
                .filter(|raw| project::matches(&rest, raw, stages.as_deref().unwrap_or_default()))
                .collect();
            let items = map_all(&app, &kept, stages, include_raw)
                .await?
                .into_iter()
                .map(|p| detail.apply(linked(site.as_deref(), p)))
                .collect();
            Ok(Fetched {
                items,
                has_next: fetched.next.is_some(),
            })
        }
    })
    .await
}

fn not_found(id: &str) -> String {
    format!("no project {id}; find ids with {LIST_TOOL}")
}

async fn fetch(app: &App, id: &str, embed: bool) -> Result<Value, ToolError> {
    let n = record_id(id, NOUN, LIST_TOOL)?;
    let query = if embed {
        vec![("embed".to_owned(), project::EMBED.to_owned())]
    } else {
        Vec::new()
    };
    app.client
        .show(&KASES, n, &query)
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(id)))
}

async fn get(app: &App, id: &str, include_raw: bool) -> Result<Project, ToolError> {
    let raw = fetch(app, id, true).await?;
    let mut out = map_all(app, &[&raw], None, include_raw).await?;
    let site = app.refdata.site_url(&app.client).await;
    out.pop()
        .map(|p| linked(site.as_deref(), p))
        .ok_or_else(|| ToolError::new(500, "internal", "no project mapped"))
}

async fn resolve(
    app: &App,
    custom_fields: Option<&Map<String, Value>>,
    remove_tags: Option<&[String]>,
) -> Result<Resolved, ToolError> {
    let mut resolved = Resolved::default();
    if let Some(cf) = custom_fields.filter(|m| !m.is_empty()) {
        let defs = parties::field_definitions(app, &KASE_FIELDS, cf, |_| true).await?;
        resolved.field_rows = fields::write(cf, &defs, |_| true).map_err(ToolError::invalid)?;
    }
    if let Some(names) = remove_tags {
        resolved.remove_tag_ids = parties::tag_ids(app, &KASE_TAGS, names).await?;
    }
    Ok(resolved)
}

/// Replaces a stage name with its id, looked for on board `scope` first.
async fn stage_by_name(
    app: &App,
    stage_id: &mut Option<Option<String>>,
    scope: Option<i64>,
) -> Result<(), ToolError> {
    if let Some(Some(s)) = stage_id.as_mut() {
        *s = resolve::stage(app, Entity::Project, s, scope)
            .await?
            .to_string();
    }
    Ok(())
}

async fn create(app: &App, mut a: CreateProject) -> Result<WriteResult<Project>, ToolError> {
    resolve::owner_nullable(app, &mut a.fields.owner_id).await?;
    stage_by_name(app, &mut a.fields.stage_id, None).await?;
    let resolved = resolve(app, a.fields.custom_fields.as_ref(), None).await?;
    let body =
        project::project_body(&a.fields, &resolved, true, None).map_err(ToolError::invalid)?;
    if a.dry_run {
        return Ok(WriteResult::DryRun(Target::Create.plan(&KASES, body)));
    }
    let mut raw = Target::Create
        .send(app, &KASES, body, Some(project::EMBED))
        .await?;
    // With a stage whose board has a default team, Capsule keeps the team and drops the
    // owner on create; put the owner back, keeping the team.
    if let Some(Some(owner)) = &a.fields.owner_id {
        let (got_owner, got_team) = project::owner_team_of(&raw)?;
        let wanted = map::parse_id("owner_id", owner).map_err(ToolError::invalid)?;
        if got_owner != Some(wanted)
            && let Some(id) = raw.get("id").and_then(Value::as_i64)
        {
            let mut fix = Map::new();
            fix.insert("owner".into(), serde_json::json!({ "id": wanted }));
            fix.insert(
                "team".into(),
                got_team.map_or(Value::Null, |t| serde_json::json!({ "id": t })),
            );
            raw = Target::Update {
                id,
                missing: not_found(&id.to_string()),
            }
            .send(app, &KASES, fix, Some(project::EMBED))
            .await
            .map_err(|e| {
                let mut e = e;
                // The project exists: the model must fix it, never create it again.
                e.0.code = "partially_applied".into();
                e.0.message = format!(
                    "project {id} WAS created, but Capsule dropped its owner (the board's \
                         default team applies) and setting it failed: {}. Do not create it \
                         again: fix it with crm_update_project id {id} (owner_id together \
                         with team_id)",
                    e.0.message.trim_end_matches(" Fix these and try again.")
                );
                e.0.details
                    .push(serde_json::json!({ "created_id": id.to_string() }));
                e
            })?;
        }
    }
    let mut out = map_all(app, &[&raw], None, false).await?;
    out.pop()
        .map(WriteResult::Record)
        .ok_or_else(|| ToolError::new(500, "internal", "no project mapped"))
}

async fn update(app: &App, mut a: UpdateProject) -> Result<WriteResult<Project>, ToolError> {
    let n = record_id(&a.id, NOUN, LIST_TOOL)?;
    resolve::owner_nullable(app, &mut a.fields.owner_id).await?;
    // A stage name is looked for on the project's own board first.
    if let Some(Some(s)) = &a.fields.stage_id
        && resolve::as_id(s).is_none()
    {
        let raw = fetch(app, &a.id, false).await?;
        let at = raw.pointer("/stage/id").and_then(Value::as_i64);
        let board = match at {
            Some(stage) => resolve::stages(app, Entity::Project, None)
                .await?
                .into_iter()
                .find(|c| c.id == stage)
                .and_then(|c| c.group),
            None => None,
        };
        stage_by_name(app, &mut a.fields.stage_id, board).await?;
    }
    let resolved = resolve(
        app,
        a.fields.custom_fields.as_ref(),
        a.remove_tags.as_deref(),
    )
    .await?;
    // Check the input before reading the project for the owner/team pair.
    project::project_body(&a.fields, &resolved, false, Some((Some(0), Some(0))))
        .map_err(ToolError::invalid)?;
    let current = if project::needs_current_owner_team(&a.fields) {
        let raw = fetch(app, &a.id, false).await?;
        Some(project::owner_team_of(&raw)?)
    } else {
        None
    };
    let body =
        project::project_body(&a.fields, &resolved, false, current).map_err(ToolError::invalid)?;
    let target = Target::Update {
        id: n,
        missing: not_found(&a.id),
    };
    if a.dry_run {
        return Ok(WriteResult::DryRun(target.plan(&KASES, body)));
    }
    if body.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give at least one field to update",
        ));
    }
    let raw = target.send(app, &KASES, body, Some(project::EMBED)).await?;
    let mut out = map_all(app, &[&raw], None, false).await?;
    out.pop()
        .map(WriteResult::Record)
        .ok_or_else(|| ToolError::new(500, "internal", "no project mapped"))
}

async fn delete(app: &App, id: &str, dry_run: bool) -> Result<WriteResult<Deleted>, ToolError> {
    let n = record_id(id, NOUN, LIST_TOOL)?;
    if dry_run {
        return Ok(WriteResult::DryRun(plan(
            "DELETE",
            format!("{}/{n}", KASES.path),
            KASES.single,
            None,
        )));
    }
    app.client
        .delete(&KASES, n)
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
                name: "crm_list_projects",
                title: "List projects",
                description: "Capsule cases. Some filters apply per page.",
                toolset: "projects",
                kind: Kind::Read,
            },
            |app, a: ListProjects, cx| async move {
                list(app, &cx, (&a.paging, a.detail), &a.filters).await
            },
        ),
        tool(
            Meta {
                name: "crm_get_project",
                title: "Get project",
                description: "A Capsule case.",
                toolset: "projects",
                kind: Kind::Read,
            },
            |app, a: GetProject, _cx| async move { get(&app, &a.id, a.include_remote_data).await },
        ),
        tool(
            Meta {
                name: "crm_create_project",
                title: "Create project",
                description: "Needs `account_id` or `contact_id`.",
                toolset: "projects",
                kind: Kind::Create,
            },
            |app, a: CreateProject, _cx| async move { create(&app, a).await },
        )
        .require(&["name"]),
        tool(
            Meta {
                name: "crm_update_project",
                title: "Update project",
                description: "Null clears a field.",
                toolset: "projects",
                kind: Kind::Update,
            },
            |app, a: UpdateProject, _cx| async move { update(&app, a).await },
        ),
        tool(
            Meta {
                name: "crm_delete_project",
                title: "Delete project",
                description: "For good, with its tasks and timeline entries.",
                toolset: "projects",
                kind: Kind::Delete,
            },
            |app, a: DeleteProject, _cx| async move { delete(&app, &a.id, a.dry_run).await },
        ),
    ]
}
