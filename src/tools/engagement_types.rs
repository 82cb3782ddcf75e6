//! Engagement types: Capsule's activity types (built-ins with negative ids, plus custom ones).
//! The list is small and cached, so paging happens here.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{
    Kind, Meta, ToolError, ToolSpec,
    contacts::GetById,
    entries,
    list::{self, Fetched, Paging},
    tool,
};
use crate::capsule::map::{self, entry};
use crate::unified::{EngagementType, ListResult};

const LIST_TOOL: &str = "crm_list_engagement_types";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListEngagementTypes {
    #[serde(flatten)]
    pub paging: Paging,
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_engagement_types",
                title: "List engagement types",
                description: "Built-ins Note -1, Meeting -2, Call -3, Task completed -4; and custom ones.",
                toolset: "engagements",
                kind: Kind::Read,
            },
            |app, a: ListEngagementTypes, cx| async move {
                let include_raw = a.paging.include_remote_data;
                let out: ListResult<EngagementType> =
                    list::run(LIST_TOOL, &a.paging, json!({}), &cx, |page, per_page| {
                        let app = app.clone();
                        async move {
                            let all = entries::activity_types(&app).await?;
                            let start = (page as usize - 1) * per_page as usize;
                            let items = all
                                .iter()
                                .skip(start)
                                .take(per_page as usize)
                                .map(|(raw, _)| {
                                    entry::to_engagement_type(raw, include_raw)
                                        .map_err(ToolError::from)
                                })
                                .collect::<Result<Vec<_>, _>>()?;
                            Ok(Fetched {
                                items,
                                has_next: start + (per_page as usize) < all.len(),
                            })
                        }
                    })
                    .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_engagement_type",
                title: "Get engagement type",
                description: "Built-ins have negative ids (-3 Call).",
                toolset: "engagements",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                let n = map::parse_type_id("id", &a.id).map_err(|_| {
                    ToolError::invalid(format!(
                        "`id` must be an engagement type id such as \"-3\" (from {LIST_TOOL}); \
                         got \"{}\"",
                        a.id
                    ))
                })?;
                let all = entries::activity_types(&app).await?;
                let (raw, _) = all.iter().find(|(_, t)| t.id == Some(n)).ok_or_else(|| {
                    ToolError::not_found(format!(
                        "no engagement type {}; find ids with {LIST_TOOL}",
                        a.id
                    ))
                })?;
                Ok(entry::to_engagement_type(raw, a.include_remote_data)?)
            },
        ),
    ]
}
