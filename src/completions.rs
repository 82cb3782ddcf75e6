//! `completion/complete` for prompt arguments and resource-template variables.
//!
//! A record argument completes from a prefix of the record's name: one Capsule search through
//! the record's list tool, cached briefly. Boards, stages, users, tags and lost reasons complete
//! from the reference data (the list tools and the `refdata` cache). At most 100 values.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rmcp::{
    ErrorData as McpError,
    model::{CompleteRequestParams, CompletionInfo, Reference},
};
use serde_json::{Value, json};

use crate::{
    app::App,
    capsule::endpoint::{LOST_REASONS, PARTY_TAGS},
    prompts::{self, Complete},
    resources,
    server::Registry,
    tools::CallCx,
};

const SEARCH_TTL: Duration = Duration::from_secs(30);
const SEARCH_LIMIT: u32 = 25;

/// (id, name) pairs a search found.
type Found = Arc<Vec<(String, String)>>;

/// Recent record searches: (list tool, prefix) → what they found, and when.
#[derive(Default)]
pub struct Cache {
    searches: Mutex<HashMap<(String, String), (Instant, Found)>>,
}

impl Cache {
    fn get(&self, key: &(String, String)) -> Option<Found> {
        let map = self.searches.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| at.elapsed() < SEARCH_TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: (String, String), v: Found) {
        if let Ok(mut map) = self.searches.lock() {
            map.retain(|_, (at, _)| at.elapsed() < SEARCH_TTL);
            map.insert(key, (Instant::now(), v));
        }
    }
}

pub async fn complete(
    app: Arc<App>,
    reg: &Registry,
    cache: &Cache,
    req: &CompleteRequestParams,
) -> Result<CompletionInfo, McpError> {
    let prefix = req.argument.value.trim();
    let values = match &req.r#ref {
        Reference::Prompt(p) => {
            let Some(def) = prompts::find(reg, &p.name) else {
                return Err(McpError::invalid_params(
                    format!("unknown prompt `{}`", p.name),
                    None,
                ));
            };
            let kind = def
                .args
                .iter()
                .find(|a| a.name == req.argument.name)
                .map_or(Complete::Nothing, |a| a.complete);
            match kind {
                Complete::Record(collection) => records(app, reg, cache, collection, prefix)
                    .await?
                    .iter()
                    .map(|(id, name)| format!("{name} (#{id})"))
                    .collect(),
                other => reference(app, reg, other, prefix).await?,
            }
        }
        Reference::Resource(r) => {
            let Some(t) = resources::served_templates(reg).find(|t| t.uri_template() == r.uri)
            else {
                return Err(McpError::invalid_params(
                    format!("unknown resource template `{}`", r.uri),
                    None,
                ));
            };
            if req.argument.name != "id" {
                Vec::new()
            } else {
                records(app, reg, cache, t.collection, prefix)
                    .await?
                    .iter()
                    .map(|(id, _)| id.clone())
                    .collect()
            }
        }
        _ => Vec::new(),
    };
    Ok(cap(values))
}

/// At most 100 values, saying how many there were.
fn cap(mut values: Vec<String>) -> CompletionInfo {
    let total = values.len();
    values.truncate(CompletionInfo::MAX_VALUES);
    let mut info = CompletionInfo::default();
    info.has_more = Some(total > values.len());
    info.total = Some(u32::try_from(total).unwrap_or(u32::MAX));
    info.values = values;
    info
}

fn starts(name: &str, prefix: &str) -> bool {
    let (n, p) = (name.to_lowercase(), prefix.to_lowercase());
    n.starts_with(&p) || n.split_whitespace().any(|w| w.starts_with(&p))
}

fn internal(e: crate::tools::ToolError) -> McpError {
    McpError::internal_error(e.0.message.clone(), Some(e.to_value()))
}

async fn call(app: Arc<App>, reg: &Registry, tool: &str, args: Value) -> Result<Value, McpError> {
    let Some(spec) = reg.get(tool) else {
        return Ok(Value::Null);
    };
    spec.call(app, args.as_object().cloned(), CallCx::default())
        .await
        .map_err(internal)
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.get("result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Records of a collection whose name (or id) starts with `prefix`: one search, cached.
async fn records(
    app: Arc<App>,
    reg: &Registry,
    cache: &Cache,
    collection: &str,
    prefix: &str,
) -> Result<Found, McpError> {
    let Some(t) = resources::template(reg, collection) else {
        return Ok(Arc::default());
    };
    let key = (t.list_tool.to_owned(), prefix.to_lowercase());
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let mut args = json!({ "limit": SEARCH_LIMIT });
    if !prefix.is_empty() {
        args["search"] = json!(prefix);
    }
    let list = call(app, reg, t.list_tool, args).await?;
    let found: Vec<(String, String)> = items(&list)
        .filter_map(|r| {
            let id = str_of(r, "id")?;
            let name = str_of(r, "name").or_else(|| str_of(r, "subject"))?;
            (prefix.is_empty() || starts(name, prefix) || id.starts_with(prefix))
                .then(|| (id.to_owned(), name.to_owned()))
        })
        .collect();
    let found = Arc::new(found);
    cache.put(key, found.clone());
    Ok(found)
}

/// Names from the reference data that start with `prefix`.
async fn reference(
    app: Arc<App>,
    reg: &Registry,
    kind: Complete,
    prefix: &str,
) -> Result<Vec<String>, McpError> {
    let names: Vec<String> = match kind {
        Complete::Record(_) | Complete::Nothing => Vec::new(),
        Complete::Fixed(values) => values.iter().map(|v| (*v).to_owned()).collect(),
        Complete::ProjectBoards | Complete::ProjectStages | Complete::Users => {
            let (tool, args) = match kind {
                Complete::ProjectBoards => (
                    "crm_list_pipelines",
                    json!({"entity_type": "project", "fetch_all": true}),
                ),
                Complete::ProjectStages => (
                    "crm_list_stages",
                    json!({"entity_type": "project", "fetch_all": true}),
                ),
                _ => ("crm_list_users", json!({"fetch_all": true})),
            };
            let list = call(app, reg, tool, args).await?;
            items(&list)
                .filter_map(|r| str_of(r, "name").map(str::to_owned))
                .collect()
        }
        Complete::PartyTags => {
            let tags = resources::tags(&app, &PARTY_TAGS).await.map_err(internal)?;
            tags["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| str_of(t, "name").map(str::to_owned))
                .collect()
        }
        Complete::LostReasons => {
            let ep = &LOST_REASONS;
            let items = app
                .refdata
                .list(&app.client, ep.path, ep.plural, &[])
                .await
                .map_err(|e| internal(e.into()))?;
            items
                .iter()
                .filter_map(|r| str_of(r, "name").map(str::to_owned))
                .collect()
        }
    };
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| prefix.is_empty() || starts(n, prefix))
        .collect();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn at_most_100_values() {
        let info = cap((0..150).map(|i| i.to_string()).collect());
        assert_eq!(info.values.len(), 100);
        assert_eq!(info.total, Some(150));
        assert_eq!(info.has_more, Some(true));
        let info = cap(vec!["a".into()]);
        assert_eq!(info.has_more, Some(false));
    }

    #[test]
    fn prefixes_match_any_word() {
        assert!(starts("Ada Lovelace", "love"));
        assert!(starts("Ada Lovelace", "AD"));
        assert!(!starts("Ada Lovelace", "ove"));
    }
}
