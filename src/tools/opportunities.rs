//! Opportunities: deals in sales pipelines.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    contacts::{DeleteById, GetById},
    list::{self, Detail, Fetched, Paging},
    parties, pipelines, resolve, tool,
    write::{Target, plan, record_id},
};
use crate::app::App;
use crate::capsule::{
    endpoint::{OPPORTUNITIES, OPPORTUNITY_FIELDS, OPPORTUNITY_TAGS},
    map::{
        self,
        opportunity::{self as opp, Query, Status},
    },
    refdata::linked,
};
use crate::unified::{
    Deleted, ListResult, Opportunity, WriteResult, opportunity::OpportunityFields,
};

const LIST_TOOL: &str = "crm_list_opportunities";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListOpportunities {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    /// open, won or lost
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub pipeline_id: Option<String>,
    #[serde(default)]
    pub stage_id: Option<String>,
    #[serde(default)]
    pub closed_after: Option<String>,
    #[serde(default)]
    pub closed_before: Option<String>,
    #[serde(default)]
    pub expected_close_after: Option<String>,
    #[serde(default)]
    pub expected_close_before: Option<String>,
    #[serde(flatten)]
    pub segment: parties::SegmentArgs,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateOpportunity {
    #[serde(flatten)]
    pub fields: OpportunityFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateOpportunity {
    pub id: String,
    #[serde(flatten)]
    pub fields: OpportunityFields,
    #[serde(default)]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default)]
    pub move_pipeline: bool,
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

fn opt_date(what: &str, v: &Option<String>) -> Result<Option<chrono::NaiveDate>, ToolError> {
    v.as_deref()
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                ToolError::invalid(format!(
                    "`{what}` must be a date as YYYY-MM-DD; got \"{d}\""
                ))
            })
        })
        .transpose()
}

/// The stage a list is filtered to: the one place `stage_id` is read for lists (a numeric
/// milestone id of a known pipeline).
pub fn filter_stage(
    idx: &map::pipeline::MilestoneIndex,
    given: &str,
) -> Result<opp::StageFilter, ToolError> {
    let id = map::parse_id("stage_id", given).map_err(ToolError::invalid)?;
    let m = idx.get(id).ok_or_else(|| {
        ToolError::invalid(format!(
            "no opportunity stage {id}; find ids with crm_list_stages (entity_type opportunity)"
        ))
    })?;
    Ok(opp::StageFilter {
        id,
        name: m.name.clone(),
        pipeline_id: m.pipeline.id.parse().ok(),
    })
}

/// Checks the list filters, from the arguments or from a cursor's filters.
fn query(s: impl Fn(&str) -> Option<String>) -> Result<Query, ToolError> {
    let account = opt_id("account_id", &s("account_id"))?;
    let contact = opt_id("contact_id", &s("contact_id"))?;
    let (party_id, party_arg) = match (account, contact) {
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid(
                "give `account_id` or `contact_id`, not both",
            ));
        }
        (Some(a), None) => (Some(a), Some("account_id")),
        (None, Some(c)) => (Some(c), Some("contact_id")),
        (None, None) => (None, None),
    };
    Ok(Query {
        search: non_empty("search", &s("search"))?,
        updated_after: s("updated_after")
            .map(|t| map::parse_timestamp("updated_after", &t).map_err(ToolError::invalid))
            .transpose()?,
        party_id,
        party_arg,
        status: s("status")
            .map(|v| Status::parse(&v).map_err(ToolError::invalid))
            .transpose()?,
        owner_id: opt_id("owner_id", &s("owner_id"))?,
        tag: non_empty("tag", &s("tag"))?,
        pipeline_id: opt_id("pipeline_id", &s("pipeline_id"))?,
        closed_after: opt_date("closed_after", &s("closed_after"))?,
        closed_before: opt_date("closed_before", &s("closed_before"))?,
        expected_close_after: opt_date("expected_close_after", &s("expected_close_after"))?,
        expected_close_before: opt_date("expected_close_before", &s("expected_close_before"))?,
        stage: None,
        segment: Default::default(),
    })
}

/// Opportunity definitions, only when a record carries custom field values.
async fn definitions_for(app: &App, records: &[&Value]) -> Result<parties::Definitions, ToolError> {
    let any = records.iter().any(|r| {
        r.get("fields")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if any {
        parties::definitions_of(app, &OPPORTUNITY_FIELDS).await
    } else {
        Ok(parties::Definitions::default())
    }
}

fn not_found(id: &str) -> String {
    format!("no opportunity {id}; find ids with {LIST_TOOL}")
}

async fn list(
    app: std::sync::Arc<App>,
    cx: &CallCx,
    a: &ListOpportunities,
) -> Result<ListResult<Opportunity>, ToolError> {
    let (mut owner, mut pipeline) = (a.owner_id.clone(), a.pipeline_id.clone());
    resolve::owner(&app, &mut owner).await?;
    resolve::head(&app, map::pipeline::Entity::Opportunity, &mut pipeline).await?;
    let given = |k: &str| match k {
        "search" => a.search.clone(),
        "updated_after" => a.updated_after.clone(),
        "account_id" => a.account_id.clone(),
        "contact_id" => a.contact_id.clone(),
        "status" => a.status.clone(),
        "owner_id" => owner.clone(),
        "tag" => a.tag.clone(),
        "pipeline_id" => pipeline.clone(),
        "stage_id" => a.stage_id.clone(),
        "closed_after" => a.closed_after.clone(),
        "closed_before" => a.closed_before.clone(),
        "expected_close_after" => a.expected_close_after.clone(),
        "expected_close_before" => a.expected_close_before.clone(),
        _ => None,
    };
    let mut q = query(given)?;
    let mut stage = a.stage_id.clone();
    if let Some(s) = stage.as_mut() {
        // A name is looked for in `pipeline_id` when given, else across pipelines.
        *s = resolve::stage(&app, map::pipeline::Entity::Opportunity, s, q.pipeline_id)
            .await?
            .to_string();
    }
    let mut filters = opp::query_json(&q);
    if let Some(s) = &stage {
        // As the cursor carries it once resolved: the id.
        let id = map::parse_id("stage_id", s).map_err(ToolError::invalid)?;
        filters["stage_id"] = id.to_string().into();
    }
    a.segment.echo(&mut filters);
    let mut seg = a.segment.clone();
    if let Some(f) = list::filters_of(LIST_TOOL, &a.paging)? {
        let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        q = query(s)?;
        stage = s("stage_id");
        seg = serde_json::from_value(f.clone())
            .map_err(|_| ToolError::invalid("`cursor` is damaged; call again without `cursor`"))?;
    }
    // Names first: a wrong one is refused before anything but cached reference data is read.
    q.segment = parties::segment(
        &app,
        &parties::SegmentSource {
            fields: &OPPORTUNITY_FIELDS,
            tags: &OPPORTUNITY_TAGS,
            entity_type: "opportunity",
        },
        |_| true,
        q.tag.as_deref(),
        &seg,
    )
    .await?;
    let idx = pipelines::milestone_index(&app).await?;
    q.stage = stage.map(|s| filter_stage(&idx, &s)).transpose()?;
    if let (Some(s), Some(p)) = (&q.stage, q.pipeline_id)
        && s.pipeline_id.is_some_and(|sp| sp != p)
    {
        return Err(ToolError::invalid(format!(
            "stage {} is not in pipeline {p}; leave out `pipeline_id` or pick one of its stages \
             (crm_list_stages with pipeline_id)",
            s.id
        )));
    }
    let include_raw = a.paging.include_remote_data;
    if let Some(p) = q.pipeline_id
        && !has_pipeline(&app, p).await?
    {
        return Err(ToolError::invalid(format!(
            "no pipeline {p}; find ids with crm_list_pipelines"
        )));
    }
    let site = parties::full_site(&app, a.detail).await;
    list::run(LIST_TOOL, &a.paging, filters, cx, |page, per_page| {
        let app = app.clone();
        let q = q.clone();
        let idx = idx.clone();
        let site = site.clone();
        async move {
            let req = opp::list_request(&q, page, per_page);
            let fetched = app
                .client
                .list_page(&req, OPPORTUNITIES.plural)
                .await
                .map_err(|e| {
                    ToolError::from(e).on_not_found(format!(
                        "no party {}; find ids with crm_list_accounts or crm_list_contacts",
                        q.party_id.unwrap_or_default()
                    ))
                })?;
            let kept: Vec<&Value> = fetched
                .items
                .iter()
                .filter(|raw| opp::matches(&q, raw, &idx))
                .collect();
            let defs = definitions_for(&app, &kept).await?;
            let items = kept
                .into_iter()
                .map(|raw| {
                    opp::to_opportunity(raw, &defs, &idx, include_raw)
                        .map(|o| a.detail.apply(linked(site.as_deref(), o)))
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

async fn has_pipeline(app: &App, p: i64) -> Result<bool, ToolError> {
    let sets = pipelines::sets(app, map::pipeline::Entity::Opportunity, Some(p)).await?;
    Ok(!sets.is_empty())
}

async fn fetch(app: &App, id: &str) -> Result<(i64, Value), ToolError> {
    let n = record_id(id, "opportunity", LIST_TOOL)?;
    let raw = app
        .client
        .show(
            &OPPORTUNITIES,
            n,
            &[("embed".to_owned(), opp::EMBED.to_owned())],
        )
        .await
        .map_err(|e| ToolError::from(e).on_not_found(not_found(id)))?;
    Ok((n, raw))
}

async fn to_unified(app: &App, raw: &Value, include_raw: bool) -> Result<Opportunity, ToolError> {
    let idx = pipelines::milestone_index(app).await?;
    let defs = definitions_for(app, &[raw]).await?;
    Ok(opp::to_opportunity(raw, &defs, &idx, include_raw)?)
}

/// Checks `stage_id` against the known stages; on update refuses a stage of another pipeline
/// unless `move_pipeline` (Capsule would move the opportunity silently).
async fn check_stage(
    app: &App,
    stage_id: Option<&str>,
    current: Option<(&str, &Value)>,
    move_pipeline: bool,
) -> Result<(), ToolError> {
    let Some(stage) = stage_id else {
        return Ok(());
    };
    let stage = map::parse_id("stage_id", stage).map_err(ToolError::invalid)?;
    let idx = pipelines::milestone_index(app).await?;
    let Some(target) = idx.get(stage) else {
        return Err(ToolError::invalid(format!(
            "no opportunity stage {stage}; find ids with crm_list_stages (entity_type opportunity)"
        )));
    };
    let Some((id, raw)) = current else {
        return Ok(());
    };
    let from = opp::pipeline_of(raw, &idx);
    if !move_pipeline
        && let Some(from) = from
        && from != target.pipeline.id
    {
        let name = |r: &crate::unified::Ref| {
            r.name
                .as_deref()
                .map(|n| format!("{} ({n})", r.id))
                .unwrap_or_else(|| r.id.clone())
        };
        let from_name = raw
            .get("milestone")
            .and_then(|m| m.get("id"))
            .and_then(Value::as_i64)
            .and_then(|m| idx.get(m))
            .map(|m| name(&m.pipeline))
            .unwrap_or(from);
        return Err(ToolError::invalid(format!(
            "stage {stage} belongs to pipeline {}, but opportunity {id} is in pipeline {from_name}; \
             pick a stage of its own pipeline (crm_list_stages with pipeline_id), or pass \
             `move_pipeline: true` to move the opportunity to the other pipeline",
            name(&target.pipeline)
        )));
    }
    Ok(())
}

/// Replaces a stage name with its id, looked for in pipeline `scope` first.
async fn stage_by_name(
    app: &App,
    stage_id: &mut Option<String>,
    scope: Option<i64>,
) -> Result<(), ToolError> {
    if let Some(s) = stage_id.as_mut() {
        let entity = map::pipeline::Entity::Opportunity;
        *s = resolve::stage(app, entity, s, scope).await?.to_string();
    }
    Ok(())
}

async fn write(
    app: &App,
    id: Option<(&str, i64)>,
    body: Map<String, Value>,
    dry_run: bool,
) -> Result<WriteResult<Opportunity>, ToolError> {
    if id.is_some() && body.is_empty() {
        return Err(ToolError::invalid(
            "nothing to change: give at least one field to update",
        ));
    }
    let target = match id {
        None => Target::Create,
        Some((given, n)) => Target::Update {
            id: n,
            missing: not_found(given),
        },
    };
    if dry_run {
        return Ok(WriteResult::DryRun(target.plan(&OPPORTUNITIES, body)));
    }
    let raw = target
        .send(app, &OPPORTUNITIES, body, Some(opp::EMBED))
        .await?;
    Ok(WriteResult::Record(to_unified(app, &raw, false).await?))
}

async fn resolve(
    app: &App,
    f: &OpportunityFields,
    remove_tags: Option<&[String]>,
) -> Result<map::Resolved, ToolError> {
    parties::resolve_with(
        app,
        (&OPPORTUNITY_FIELDS, &OPPORTUNITY_TAGS),
        |_| true,
        f.custom_fields.as_ref(),
        remove_tags,
    )
    .await
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_opportunities",
                title: "List opportunities",
                description: "Deals. Dates are exclusive; some filters apply per page.",
                toolset: "opportunities",
                kind: Kind::Read,
            },
            |app, a: ListOpportunities, cx| async move { list(app, &cx, &a).await },
        ),
        tool(
            Meta {
                name: "crm_get_opportunity",
                title: "Get opportunity",
                description: "A deal.",
                toolset: "opportunities",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                let (_, raw) = fetch(&app, &a.id).await?;
                let site = app.refdata.site_url(&app.client).await;
                Ok(linked(
                    site.as_deref(),
                    to_unified(&app, &raw, a.include_remote_data).await?,
                ))
            },
        ),
        tool(
            Meta {
                name: "crm_create_opportunity",
                title: "Create opportunity",
                description: "Needs `account_id` or `contact_id`.",
                toolset: "opportunities",
                kind: Kind::Create,
            },
            |app, mut a: CreateOpportunity, _cx| async move {
                resolve::owner(&app, &mut a.fields.owner_id).await?;
                stage_by_name(&app, &mut a.fields.stage_id, None).await?;
                let resolved = resolve(&app, &a.fields, None).await?;
                let body = opp::body(&a.fields, &resolved, true).map_err(ToolError::invalid)?;
                check_stage(&app, a.fields.stage_id.as_deref(), None, false).await?;
                write(&app, None, body, a.dry_run).await
            },
        )
        .require(&["name", "stage_id"]),
        tool(
            Meta {
                name: "crm_update_opportunity",
                title: "Update opportunity",
                description: "Null clears a field. A Won/Lost stage closes it; another pipeline's stage needs `move_pipeline: true`.",
                toolset: "opportunities",
                kind: Kind::Update,
            },
            |app, mut a: UpdateOpportunity, _cx| async move {
                let n = record_id(&a.id, "opportunity", LIST_TOOL)?;
                resolve::owner(&app, &mut a.fields.owner_id).await?;
                // A stage name is looked for in the opportunity's own pipeline first.
                let named = a
                    .fields
                    .stage_id
                    .as_deref()
                    .is_some_and(|s| resolve::as_id(s).is_none());
                let mut current = None;
                if named {
                    let (_, raw) = fetch(&app, &a.id).await?;
                    let idx = pipelines::milestone_index(&app).await?;
                    let scope = opp::pipeline_of(&raw, &idx).and_then(|p| p.parse().ok());
                    stage_by_name(&app, &mut a.fields.stage_id, scope).await?;
                    current = Some(raw);
                }
                let resolved = resolve(&app, &a.fields, a.remove_tags.as_deref()).await?;
                let body = opp::body(&a.fields, &resolved, false).map_err(ToolError::invalid)?;
                if a.fields.stage_id.is_some() {
                    let current = match current {
                        Some(raw) => raw,
                        None => fetch(&app, &a.id).await?.1,
                    };
                    check_stage(
                        &app,
                        a.fields.stage_id.as_deref(),
                        Some((&a.id, &current)),
                        a.move_pipeline,
                    )
                    .await?;
                }
                write(&app, Some((&a.id, n)), body, a.dry_run).await
            },
        ),
        tool(
            Meta {
                name: "crm_delete_opportunity",
                title: "Delete opportunity",
                description: "For good, no undo.",
                toolset: "opportunities",
                kind: Kind::Delete,
            },
            |app, a: DeleteById, _cx| async move {
                let n = record_id(&a.id, "opportunity", LIST_TOOL)?;
                if a.dry_run {
                    return Ok(WriteResult::DryRun(plan(
                        "DELETE",
                        format!("{}/{n}", OPPORTUNITIES.path),
                        OPPORTUNITIES.single,
                        None,
                    )));
                }
                app.client
                    .delete(&OPPORTUNITIES, n)
                    .await
                    .map_err(|e| ToolError::from(e).on_not_found(not_found(&a.id)))?;
                let out: WriteResult<Deleted> = WriteResult::Record(Deleted {
                    id: n.to_string(),
                    deleted: true,
                });
                Ok(out)
            },
        ),
    ]
}
