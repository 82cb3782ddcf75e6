//! CRM users: the people who log in to Capsule and own records.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    CallCx, Kind, Meta, ToolError, ToolSpec,
    list::{self, Paging},
    tool,
    write::record_id,
};
use crate::app::App;
use crate::capsule::{Request, client::unwrap_key, endpoint::USERS, map::user};
use crate::unified::{ListResult, User};

const LIST_TOOL: &str = "crm_list_users";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListUsers {
    #[serde(flatten)]
    pub paging: Paging,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetUser {
    pub id: String,
    #[serde(default)]
    pub include_remote_data: bool,
}

/// Every user with their party embedded (Capsule does not page `/users`; cached).
pub async fn all_users(app: &App) -> Result<Arc<Vec<Value>>, ToolError> {
    all_users_since(app, None).await
}

/// As [`all_users`]; with `since`, a list fetched before then is fetched again.
pub async fn all_users_since(
    app: &App,
    since: Option<std::time::Instant>,
) -> Result<Arc<Vec<Value>>, ToolError> {
    let query = [("embed".to_owned(), "party".to_owned())];
    Ok(app
        .refdata
        .list_since(&app.client, (USERS.path, USERS.plural), &query, since)
        .await?)
}

/// One raw user: `me` is the connected user (`/users/current`), any other id is looked up in
/// the cached list.
pub async fn one_user(app: &App, id: &str, list_tool: &str) -> Result<Value, ToolError> {
    if id.trim().eq_ignore_ascii_case("me") {
        let req = Request::get(format!("{}/current", USERS.path)).query("embed", "party");
        let resp = app.client.send(&req).await?;
        return Ok(unwrap_key(resp.body, USERS.single)?);
    }
    let n = record_id(id, "user", list_tool)?;
    all_users(app)
        .await?
        .iter()
        .find(|u| u.get("id").and_then(Value::as_i64) == Some(n))
        .cloned()
        .ok_or_else(|| ToolError::not_found(format!("no user {id}; find ids with {list_tool}")))
}

async fn list_users(
    app: Arc<App>,
    a: ListUsers,
    cx: CallCx,
) -> Result<ListResult<User>, ToolError> {
    let include_raw = a.paging.include_remote_data;
    list::run(LIST_TOOL, &a.paging, json!({}), &cx, |page, limit| {
        let app = app.clone();
        async move {
            let users = all_users(&app)
                .await?
                .iter()
                .map(|u| user::to_user(u, include_raw))
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
                title: "List users",
                description: "Who can own records.",
                toolset: "users",
                kind: Kind::Read,
            },
            list_users,
        ),
        tool(
            Meta {
                name: "crm_get_user",
                title: "Get user",
                description: "`me`: the connected user.",
                toolset: "users",
                kind: Kind::Read,
            },
            |app, a: GetUser, _cx| async move {
                let raw = one_user(&app, &a.id, LIST_TOOL).await?;
                Ok(user::to_user(&raw, a.include_remote_data)?)
            },
        ),
    ]
}
