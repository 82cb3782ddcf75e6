//! The user directory: CRM users with names, contact details, roles and teams (as groups).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    list::{self, Paging},
    tool,
    users::{GetUser, all_users, one_user},
};
use crate::app::App;
use crate::capsule::{endpoint::TEAMS, map::user, wire::Team};
use crate::unified::{DirectoryUser, ListResult};

const LIST_TOOL: &str = "directory_list_users";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListDirectoryUsers {
    #[serde(flatten)]
    pub paging: Paging,
}

/// Teams with their members (cached).
async fn teams(app: &App) -> Result<Vec<Team>, ToolError> {
    let query = [("embed".to_owned(), "memberships".to_owned())];
    let raw = app
        .refdata
        .list(&app.client, TEAMS.path, TEAMS.plural, &query)
        .await?;
    Ok(user::decode_teams(&raw)?)
}

async fn list_users(
    app: Arc<App>,
    a: ListDirectoryUsers,
    cx: CallCx,
) -> Result<ListResult<DirectoryUser>, ToolError> {
    let include_raw = a.paging.include_remote_data;
    list::run(LIST_TOOL, &a.paging, json!({}), &cx, |page, limit| {
        let app = app.clone();
        async move {
            let teams = teams(&app).await?;
            let users = all_users(&app)
                .await?
                .iter()
                .map(|u| user::to_directory_user(u, &teams, include_raw))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(list::local_page(&users, page, limit))
        }
    })
    .await
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: LIST_TOOL,
                title: "List directory users",
                description: "With roles and groups (teams).",
                toolset: "directory",
                kind: Kind::Read,
            },
            list_users,
        ),
        tool(
            Meta {
                name: "directory_get_user",
                title: "Get directory user",
                description: "Roles and groups (teams); `me`: the connected user.",
                toolset: "directory",
                kind: Kind::Read,
            },
            |app, a: GetUser, _cx| async move {
                let raw = one_user(&app, &a.id, LIST_TOOL).await?;
                let teams = teams(&app).await?;
                Ok(user::to_directory_user(
                    &raw,
                    &teams,
                    a.include_remote_data,
                )?)
            },
        ),
    ]
}
