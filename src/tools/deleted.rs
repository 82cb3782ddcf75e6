//! The deleted-records feed, for syncs: what was deleted (or hidden from the user) since a time.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    list::{self, Fetched, Paging},
    tool,
};
use crate::app::App;
use crate::capsule::map::{self, deleted, format_timestamp};
use crate::unified::{DeletedRecord, EntityType, ListResult};

const LIST_TOOL: &str = "crm_list_deleted";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListDeleted {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub entity_type: Option<EntityType>,
    #[serde(default)]
    pub since: Option<String>,
}

/// The filters in force: the cursor's, else the arguments.
fn filters(a: &ListDeleted) -> Result<(EntityType, chrono::DateTime<chrono::Utc>), ToolError> {
    let from_cursor = list::filters_of(LIST_TOOL, &a.paging)?;
    let s = |k: &str| {
        from_cursor
            .as_ref()
            .and_then(|f| f.get(k).and_then(Value::as_str).map(str::to_owned))
    };
    let entity = s("entity_type")
        .and_then(|e| EntityType::parse(&e))
        .or(a.entity_type)
        .ok_or_else(|| {
            ToolError::invalid(format!(
                "`entity_type` is required: one of {}",
                EntityType::VALUES
            ))
        })?;
    let since = s("since").or_else(|| a.since.clone()).ok_or_else(|| {
        ToolError::invalid(
            "`since` is required: an ISO-8601 timestamp such as 2025-10-14T00:00:00Z",
        )
    })?;
    let since = map::parse_timestamp("since", &since).map_err(ToolError::invalid)?;
    Ok((entity, since))
}

async fn list_deleted(
    app: Arc<App>,
    a: ListDeleted,
    cx: CallCx,
) -> Result<ListResult<DeletedRecord>, ToolError> {
    let (entity, since) = filters(&a)?;
    let mut given = serde_json::Map::new();
    if let Some(e) = a.entity_type {
        given.insert("entity_type".into(), e.as_str().into());
    }
    if let Some(s) = &a.since {
        let t = map::parse_timestamp("since", s).map_err(ToolError::invalid)?;
        given.insert("since".into(), format_timestamp(&t).into());
    }
    let include_raw = a.paging.include_remote_data;
    list::run(
        LIST_TOOL,
        &a.paging,
        Value::Object(given),
        &cx,
        |page, limit| {
            let app = app.clone();
            async move {
                let resp = app
                    .client
                    .send(&deleted::request(entity, &since, page, limit))
                    .await?;
                let has_next = resp.next_link().is_some();
                // Capsule repeats the restricted records on every page: report them once.
                let items = deleted::from_feed(&resp.body, entity, page == 1, include_raw)?;
                Ok(Fetched { items, has_next })
            }
        },
    )
    .await
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: LIST_TOOL,
                title: "List deleted records",
                description: "Deleted after `since`; a party shows as both contact and account.",
                toolset: "deleted",
                kind: Kind::Read,
            },
            list_deleted,
        )
        .require(&["entity_type", "since"]),
    ]
}
