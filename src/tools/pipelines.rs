//! Pipelines and stages: opportunity pipelines with their milestones, project boards with
//! their stages. All of it is reference data, read through the cache: one request for the
//! pipeline list, one per pipeline for its stages.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Kind, Meta, ToolError, ToolSpec,
    list::{self, Fetched, Paging},
    tool,
};
use crate::app::App;
use crate::capsule::{
    endpoint::{BOARDS, MILESTONES, PIPELINES, STAGES},
    map::{
        self,
        pipeline::{self, Entity, MilestoneIndex, Set},
    },
};
use crate::unified::{ListResult, Pipeline, Stage};

/// The pipelines (or boards) of one entity with their stages; `only` keeps one pipeline.
pub async fn sets(app: &App, entity: Entity, only: Option<i64>) -> Result<Vec<Set>, ToolError> {
    sets_since(app, entity, only, None).await
}

/// As [`sets`]; with `since`, lists fetched before then are fetched again (a name missed).
pub async fn sets_since(
    app: &App,
    entity: Entity,
    only: Option<i64>,
    since: Option<std::time::Instant>,
) -> Result<Vec<Set>, ToolError> {
    let (heads, stages_key) = match entity {
        Entity::Opportunity => (&PIPELINES, MILESTONES.plural),
        Entity::Project => (&BOARDS, STAGES.plural),
    };
    let all = app
        .refdata
        .list_since(&app.client, (heads.path, heads.plural), &[], since)
        .await?;
    let mut out = Vec::new();
    for raw in all.iter() {
        let Some(id) = raw.get("id").and_then(Value::as_i64) else {
            continue;
        };
        if only.is_some_and(|o| o != id) {
            continue;
        }
        let path = format!("{}/{id}/{stages_key}", heads.path);
        let stages = app
            .refdata
            .list_since(&app.client, (&path, stages_key), &[], since)
            .await?;
        out.push(Set {
            entity,
            raw: raw.clone(),
            stages: stages.as_ref().clone(),
        });
    }
    Ok(out)
}

/// Every opportunity milestone by id, with its pipeline (cached).
pub async fn milestone_index(app: &App) -> Result<MilestoneIndex, ToolError> {
    let sets = sets(app, Entity::Opportunity, None).await?;
    Ok(MilestoneIndex::build(&sets)?)
}

fn entity_arg(v: &Option<String>) -> Result<Option<Entity>, ToolError> {
    v.as_deref()
        .map(|s| Entity::parse(s).map_err(ToolError::invalid))
        .transpose()
}

fn entities(e: Option<Entity>) -> Vec<Entity> {
    match e {
        Some(e) => vec![e],
        None => vec![Entity::Opportunity, Entity::Project],
    }
}

/// Pages a list that is already whole (reference data) with the usual paging arguments.
async fn page_locally<T: Clone + serde::Serialize + Send + 'static>(
    tool: &str,
    paging: &Paging,
    filters: Value,
    cx: &super::CallCx,
    all: Vec<T>,
) -> Result<ListResult<T>, ToolError> {
    let all = Arc::new(all);
    list::run(tool, paging, filters, cx, |page, per_page| {
        let all = all.clone();
        async move {
            let start = (page as usize - 1) * per_page as usize;
            let end = (start + per_page as usize).min(all.len());
            let items = all.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
            Ok(Fetched {
                items,
                has_next: end < all.len(),
            })
        }
    })
    .await
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListPipelines {
    #[serde(flatten)]
    pub paging: Paging,
    /// opportunity or project; default both
    #[serde(default)]
    pub entity_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetPipeline {
    pub id: String,
    /// opportunity (default) or project (a board)
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListStages {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// opportunity or project; default both
    #[serde(default)]
    pub entity_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetStage {
    pub id: String,
    /// opportunity (default) or project
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub include_remote_data: bool,
}

fn parse_id(what: &str, id: &str, list_tool: &str) -> Result<i64, ToolError> {
    map::parse_id(what, id).map_err(|_| {
        ToolError::invalid(format!(
            "`{what}` must be an id such as \"10\" (from {list_tool}); got \"{id}\""
        ))
    })
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_pipelines",
                title: "List pipelines",
                description: "Sales pipelines and project boards, with their stages.",
                toolset: "pipelines",
                kind: Kind::Read,
            },
            |app, a: ListPipelines, cx| async move {
                let mut entity = entity_arg(&a.entity_type)?;
                let mut filters = serde_json::Map::new();
                if let Some(e) = entity {
                    filters.insert("entity_type".into(), e.name().into());
                }
                if let Some(f) = list::filters_of("crm_list_pipelines", &a.paging)? {
                    let s = f
                        .get("entity_type")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    entity = entity_arg(&s)?;
                }
                let mut all = Vec::new();
                for e in entities(entity) {
                    for set in sets(&app, e, None).await? {
                        all.push(pipeline::to_pipeline(&set, a.paging.include_remote_data)?);
                    }
                }
                let out: ListResult<Pipeline> = page_locally(
                    "crm_list_pipelines",
                    &a.paging,
                    Value::Object(filters),
                    &cx,
                    all,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_pipeline",
                title: "Get pipeline",
                description: "With its stages.",
                toolset: "pipelines",
                kind: Kind::Read,
            },
            |app, a: GetPipeline, _cx| async move {
                let entity = entity_arg(&a.entity_type)?.unwrap_or(Entity::Opportunity);
                let id = parse_id("id", &a.id, "crm_list_pipelines")?;
                let found = sets(&app, entity, Some(id)).await?;
                let set = found.first().ok_or_else(|| {
                    ToolError::not_found(format!(
                        "no {} pipeline {id}; find ids with crm_list_pipelines (each result's \
                         `entity` is the `entity_type` to pass: opportunity or project)",
                        entity.name()
                    ))
                })?;
                let out: Pipeline = pipeline::to_pipeline(set, a.include_remote_data)?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_list_stages",
                title: "List stages",
                description: "Opportunity and project stages.",
                toolset: "pipelines",
                kind: Kind::Read,
            },
            |app, mut a: ListStages, cx| async move {
                let mut entity = entity_arg(&a.entity_type)?;
                let heads = entity.unwrap_or(Entity::Opportunity);
                super::resolve::head_as(&app, heads, "pipeline_id", &mut a.pipeline_id).await?;
                let mut pipeline_id = a
                    .pipeline_id
                    .as_deref()
                    .map(|p| parse_id("pipeline_id", p, "crm_list_pipelines"))
                    .transpose()?;
                let mut filters = serde_json::Map::new();
                if let Some(e) = entity {
                    filters.insert("entity_type".into(), e.name().into());
                }
                if let Some(p) = pipeline_id {
                    filters.insert("pipeline_id".into(), p.to_string().into());
                }
                if let Some(f) = list::filters_of("crm_list_stages", &a.paging)? {
                    let s = f
                        .get("entity_type")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    entity = entity_arg(&s)?;
                    pipeline_id = f
                        .get("pipeline_id")
                        .and_then(Value::as_str)
                        .map(|p| parse_id("pipeline_id", p, "crm_list_pipelines"))
                        .transpose()?;
                }
                if pipeline_id.is_some() && entity.is_none() {
                    entity = Some(Entity::Opportunity);
                }
                let mut all: Vec<Stage> = Vec::new();
                for e in entities(entity) {
                    let found = sets(&app, e, pipeline_id).await?;
                    if pipeline_id.is_some() && found.is_empty() {
                        return Err(ToolError::not_found(format!(
                            "no {} pipeline {}; find ids with crm_list_pipelines (each result's \
                             `entity` is the `entity_type` to pass: opportunity or project)",
                            e.name(),
                            pipeline_id.unwrap_or_default()
                        )));
                    }
                    for set in &found {
                        all.extend(pipeline::to_stages(set, a.paging.include_remote_data)?);
                    }
                }
                let out: ListResult<Stage> = page_locally(
                    "crm_list_stages",
                    &a.paging,
                    Value::Object(filters),
                    &cx,
                    all,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_stage",
                title: "Get stage",
                description: "With its pipeline.",
                toolset: "pipelines",
                kind: Kind::Read,
            },
            |app, a: GetStage, _cx| async move {
                let entity = entity_arg(&a.entity_type)?.unwrap_or(Entity::Opportunity);
                let id = parse_id("id", &a.id, "crm_list_stages")?;
                for set in sets(&app, entity, None).await? {
                    if let Some(s) = pipeline::to_stages(&set, a.include_remote_data)?
                        .into_iter()
                        .find(|s| s.id == id.to_string())
                    {
                        return Ok(s);
                    }
                }
                Err(ToolError::not_found(format!(
                    "no {} stage {id}; find ids with crm_list_stages",
                    entity.name()
                ))
                .with_details(vec![json!({"entity_type": entity.name()})]))
            },
        ),
    ]
}
