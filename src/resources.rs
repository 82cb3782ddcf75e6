//! CRM records and reference data as MCP resources.
//!
//! Every resource is read through the tool that serves the same data (`crm_get_contact` for
//! `capsule://contacts/{id}`, `crm_list_pipelines` for `capsule://pipelines`, ...), so a
//! resource has the same shape and leanness as the tool's result, and a resource is offered only
//! when its tool is: read-only mode, toolsets and the allow-list apply to both alike.

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError,
    model::{Resource, ResourceContents, ResourceTemplate},
};
use serde_json::{Value, json};

use crate::{
    app::App,
    capsule::endpoint::{Endpoint, KASE_TAGS, OPPORTUNITY_TAGS, PARTY_TAGS},
    server::Registry,
    tools::{CallCx, ToolError},
};

pub const SCHEME: &str = "capsule://";
pub const MIME: &str = "application/json";

/// A record kind readable as `capsule://{collection}/{id}`.
pub struct Template {
    pub collection: &'static str,
    pub noun: &'static str,
    pub get_tool: &'static str,
    pub list_tool: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        collection: "contacts",
        noun: "contact",
        get_tool: "crm_get_contact",
        list_tool: "crm_list_contacts",
    },
    Template {
        collection: "accounts",
        noun: "account",
        get_tool: "crm_get_account",
        list_tool: "crm_list_accounts",
    },
    Template {
        collection: "opportunities",
        noun: "opportunity",
        get_tool: "crm_get_opportunity",
        list_tool: "crm_list_opportunities",
    },
    Template {
        collection: "projects",
        noun: "project",
        get_tool: "crm_get_project",
        list_tool: "crm_list_projects",
    },
    Template {
        collection: "tasks",
        noun: "task",
        get_tool: "crm_get_task",
        list_tool: "crm_list_tasks",
    },
];

impl Template {
    pub fn uri_template(&self) -> String {
        format!("{SCHEME}{}/{{id}}", self.collection)
    }

    pub fn uri(&self, id: &str) -> String {
        format!("{SCHEME}{}/{id}", self.collection)
    }
}

/// Where a concrete resource's data comes from.
enum Source {
    /// A tool called with fixed arguments.
    Tool(&'static str),
    /// The tags in use on an entity (from the reference-data cache), offered with its list tool.
    Tags(&'static Endpoint),
}

struct Concrete {
    path: &'static str,
    title: &'static str,
    description: &'static str,
    /// The tool whose presence offers the resource.
    tool: &'static str,
    source: Source,
    args: fn() -> Value,
}

fn all_pages() -> Value {
    json!({"fetch_all": true})
}

const CONCRETE: &[Concrete] = &[
    Concrete {
        path: "pipelines",
        title: "Pipelines and stages",
        description: "Sales pipelines and project boards, each with its stages in order (stage ids for stage_id).",
        tool: "crm_list_pipelines",
        source: Source::Tool("crm_list_pipelines"),
        args: all_pages,
    },
    Concrete {
        path: "fields/contact",
        title: "Contact custom fields",
        description: "Custom field definitions of contacts (the keys of custom_fields).",
        tool: "crm_list_fields",
        source: Source::Tool("crm_list_fields"),
        args: || json!({"entity_type": "contact", "fetch_all": true}),
    },
    Concrete {
        path: "fields/account",
        title: "Account custom fields",
        description: "Custom field definitions of accounts (the keys of custom_fields).",
        tool: "crm_list_fields",
        source: Source::Tool("crm_list_fields"),
        args: || json!({"entity_type": "account", "fetch_all": true}),
    },
    Concrete {
        path: "fields/opportunity",
        title: "Opportunity custom fields",
        description: "Custom field definitions of opportunities (the keys of custom_fields).",
        tool: "crm_list_fields",
        source: Source::Tool("crm_list_fields"),
        args: || json!({"entity_type": "opportunity", "fetch_all": true}),
    },
    Concrete {
        path: "fields/project",
        title: "Project custom fields",
        description: "Custom field definitions of projects (the keys of custom_fields).",
        tool: "crm_list_fields",
        source: Source::Tool("crm_list_fields"),
        args: || json!({"entity_type": "project", "fetch_all": true}),
    },
    Concrete {
        path: "users",
        title: "Users",
        description: "The CRM's users (ids for owner_id).",
        tool: "crm_list_users",
        source: Source::Tool("crm_list_users"),
        args: all_pages,
    },
    Concrete {
        path: "tags/contact",
        title: "Contact and account tags",
        description: "Tags in use on contacts and accounts (Capsule shares them between both).",
        tool: "crm_list_contacts",
        source: Source::Tags(&PARTY_TAGS),
        args: Value::default,
    },
    Concrete {
        path: "tags/account",
        title: "Account and contact tags",
        description: "Tags in use on accounts and contacts (Capsule shares them between both).",
        tool: "crm_list_accounts",
        source: Source::Tags(&PARTY_TAGS),
        args: Value::default,
    },
    Concrete {
        path: "tags/opportunity",
        title: "Opportunity tags",
        description: "Tags in use on opportunities.",
        tool: "crm_list_opportunities",
        source: Source::Tags(&OPPORTUNITY_TAGS),
        args: Value::default,
    },
    Concrete {
        path: "tags/project",
        title: "Project tags",
        description: "Tags in use on projects.",
        tool: "crm_list_projects",
        source: Source::Tags(&KASE_TAGS),
        args: Value::default,
    },
    Concrete {
        path: "me",
        title: "Me",
        description: "The CRM user this server is connected as.",
        tool: "crm_get_user",
        source: Source::Tool("crm_get_user"),
        args: || json!({"id": "me"}),
    },
];

/// The concrete resources this server offers.
pub fn list(reg: &Registry) -> Vec<Resource> {
    CONCRETE
        .iter()
        .filter(|c| reg.get(c.tool).is_some())
        .map(|c| {
            Resource::new(format!("{SCHEME}{}", c.path), c.path)
                .with_title(c.title)
                .with_description(c.description)
                .with_mime_type(MIME)
        })
        .collect()
}

/// The record templates this server offers.
pub fn templates(reg: &Registry) -> Vec<ResourceTemplate> {
    served_templates(reg)
        .map(|t| {
            ResourceTemplate::new(t.uri_template(), t.collection)
                .with_title(format!("A {} by id", t.noun))
                .with_description(format!(
                    "One {} as crm_get_{} returns it; ids from {}.",
                    t.noun, t.noun, t.list_tool
                ))
                .with_mime_type(MIME)
        })
        .collect()
}

pub fn served_templates(reg: &Registry) -> impl Iterator<Item = &'static Template> + '_ {
    TEMPLATES.iter().filter(|t| reg.get(t.get_tool).is_some())
}

/// The template a `capsule://{collection}` names, if served.
pub fn template(reg: &Registry, collection: &str) -> Option<&'static Template> {
    served_templates(reg).find(|t| t.collection == collection)
}

fn not_found(uri: &str, why: &str) -> McpError {
    McpError::resource_not_found(format!("{why} `{uri}`"), Some(json!({ "uri": uri })))
}

/// Reads one resource: the JSON the backing tool returns.
pub async fn read(app: Arc<App>, reg: &Registry, uri: &str) -> Result<Value, McpError> {
    let Some(path) = uri.strip_prefix(SCHEME) else {
        return Err(not_found(uri, "not a capsule:// resource:"));
    };
    if let Some(c) = CONCRETE
        .iter()
        .find(|c| c.path == path && reg.get(c.tool).is_some())
    {
        let read = match &c.source {
            Source::Tool(name) => call(app, reg, name, (c.args)()).await,
            Source::Tags(ep) => tags(&app, ep).await.map_err(Failure::Tool),
        };
        return read.map_err(|e| match e {
            Failure::Mcp(e) => e,
            Failure::Tool(e) => tool_error(uri, &e, None),
        });
    }
    let known = || {
        let mut all: Vec<String> = list(reg).into_iter().map(|r| r.uri).collect();
        all.extend(templates(reg).into_iter().map(|t| t.uri_template));
        all.join(", ")
    };
    let Some((collection, id)) = path.split_once('/') else {
        return Err(not_found(
            uri,
            &format!("no such resource; this server offers {}:", known()),
        ));
    };
    let Some(t) = template(reg, collection) else {
        return Err(not_found(
            uri,
            &format!("no such resource; this server offers {}:", known()),
        ));
    };
    if id.is_empty() || id.contains('/') {
        return Err(not_found(uri, &format!("expected {}:", t.uri_template())));
    }
    call(app, reg, t.get_tool, json!({ "id": id }))
        .await
        .map_err(|e| match e {
            Failure::Mcp(e) => e,
            Failure::Tool(e) => tool_error(uri, &e, Some(t)),
        })
}

enum Failure {
    Mcp(McpError),
    Tool(ToolError),
}

async fn call(app: Arc<App>, reg: &Registry, tool: &str, args: Value) -> Result<Value, Failure> {
    let Some(spec) = reg.get(tool) else {
        return Err(Failure::Mcp(McpError::internal_error(
            format!("{tool} is not served"),
            None,
        )));
    };
    spec.call(app, args.as_object().cloned(), CallCx::default())
        .await
        .map_err(Failure::Tool)
}

/// A record that is not there (or an id that cannot be one) is the spec's resource-not-found,
/// saying where ids come from; anything else keeps the tool's error body as data.
fn tool_error(uri: &str, e: &ToolError, t: Option<&Template>) -> McpError {
    match (t, e.status()) {
        (Some(t), 400 | 404 | 422) => McpError::resource_not_found(
            format!(
                "no {} `{uri}`: {} Ids come from {} (or completion/complete on {}).",
                t.noun,
                e.0.message,
                t.list_tool,
                t.uri_template()
            ),
            Some(json!({ "uri": uri })),
        ),
        _ => McpError::internal_error(
            format!("cannot read `{uri}`: {}", e.0.message),
            Some(e.to_value()),
        ),
    }
}

/// The tags in use on an entity: `{tags: [{id, name}]}`.
pub async fn tags(app: &App, ep: &Endpoint) -> Result<Value, ToolError> {
    let tags: Vec<Value> = crate::tools::parties::tags_in_use(app, ep)
        .await?
        .into_iter()
        .map(|(id, name)| json!({ "id": id.to_string(), "name": name }))
        .collect();
    Ok(json!({ "tags": tags }))
}

/// The JSON text of a resource read.
pub fn contents(uri: &str, value: &Value) -> ResourceContents {
    ResourceContents::text(value.to_string(), uri).with_mime_type(MIME)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::server::Selection;

    #[test]
    fn every_backing_tool_exists() {
        let reg = Registry::build(&Selection::default()).unwrap();
        assert_eq!(list(&reg).len(), CONCRETE.len());
        assert_eq!(templates(&reg).len(), TEMPLATES.len());
        for c in CONCRETE {
            if let Source::Tool(t) = c.source {
                assert!(reg.get(t).is_some(), "{t}");
            }
        }
    }

    #[test]
    fn toolsets_and_allow_lists_apply_to_resources() {
        let reg = Registry::build(&Selection {
            tools: Some(vec!["crm_get_contact".into(), "crm_list_users".into()]),
            ..Default::default()
        })
        .unwrap();
        let uris: Vec<String> = list(&reg).into_iter().map(|r| r.uri).collect();
        assert_eq!(uris, ["capsule://users"]);
        let t: Vec<String> = templates(&reg)
            .into_iter()
            .map(|t| t.uri_template)
            .collect();
        assert_eq!(t, ["capsule://contacts/{id}"]);
    }
}
