//! The MCP tools: one file per resource, composed into one registry.
//!
//! Every tool is a [`ToolSpec`]: its public description (name, title, description, input and
//! output schema, annotations), the toolset it belongs to, and a handler. Arguments are checked
//! here, before any handler runs: unknown names and wrong types come back as `isError` results
//! with the unified error shape, and no request reaches Capsule.

use std::{future::Future, pin::Pin, sync::Arc};

use rmcp::{
    Peer, RoleServer,
    model::{JsonObject, ProgressNotificationParam, ProgressToken, Tool, ToolAnnotations},
};
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::App;

pub mod accounts;
pub mod args;
#[cfg(test)]
mod args_props;
pub mod catalogue;
pub mod contacts;
pub mod deleted;
pub mod directory;
pub mod engagement_types;
pub mod engagements;
pub mod entries;
pub mod error;
pub mod fields;
pub mod list;
pub mod notes;
pub mod opportunities;
pub mod parties;
pub mod pipelines;
pub mod projects;
pub mod proxy;
pub mod resolve;
pub mod schema;
pub mod search;
pub mod tags;
pub mod tasks;
pub mod users;
pub mod write;

pub use error::ToolError;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type Handler =
    Arc<dyn Fn(Arc<App>, Value, CallCx) -> BoxFuture<Result<Value, ToolError>> + Send + Sync>;
/// Reads arguments into the tool's typed arguments, keeping only whether they were readable.
type Parse = Arc<dyn Fn(Value) -> Result<(), ToolError> + Send + Sync>;

/// What a tool does to the CRM; sets its annotations and read-only membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Create,
    Update,
    Delete,
    /// The raw proxy: any method, any path under the API root.
    Proxy,
}

impl Kind {
    fn annotations(self, title: &str) -> ToolAnnotations {
        let a = ToolAnnotations::with_title(title);
        match self {
            Kind::Read => a
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
            Kind::Create => a
                .read_only(false)
                .destructive(false)
                .idempotent(false)
                .open_world(false),
            Kind::Update | Kind::Delete => a
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
            Kind::Proxy => a
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        }
    }
}

/// One tool: what `tools/list` shows and what runs on `tools/call`.
#[derive(Clone)]
pub struct ToolSpec {
    meta: Meta,
    /// `null` for an optional argument clears the field (every `Kind::Update` tool), instead of
    /// meaning "left out".
    pub nulls_clear: bool,
    /// The whole input schema, closed to unknown names: what arguments are checked against.
    /// What clients see is derived from it when [`ToolSpec::tool`] is asked, cut to what a
    /// model needs (see [`schema::advertise`]); the registry keeps that as JSON.
    checked: Arc<JsonObject>,
    /// Generates the output schema `tools/list` shows. Nothing of it is kept: the registry
    /// asks once and keeps the listed tool as JSON (issue 14: as `serde_json` trees the output
    /// schemas took several times their JSON, on the main thread's heap, which mimalloc does
    /// not give back).
    output: fn() -> JsonObject,
    /// Accepted arguments clients are not shown (see [`ToolSpec::hide`]).
    hidden: Vec<&'static str>,
    handler: Handler,
    parse: Parse,
}

impl ToolSpec {
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    pub fn toolset(&self) -> &'static str {
        self.meta.toolset
    }

    pub fn kind(&self) -> Kind {
        self.meta.kind
    }

    pub fn description(&self) -> &'static str {
        self.meta.description
    }

    /// The tool as clients see it, without its output schema: the input schema is derived from
    /// the checked one on every call (the registry asks once, at start-up).
    pub fn tool(&self) -> Tool {
        let mut shown = schema::advertise(&self.checked);
        schema::remove_properties(&mut shown, &[], &self.hidden);
        Tool::new(self.meta.name, self.meta.description, Arc::new(shown))
            .with_title(self.meta.title)
            .with_annotations(self.meta.kind.annotations(self.meta.title))
    }

    pub fn is_read_only(&self) -> bool {
        self.meta.kind == Kind::Read
    }

    /// The output schema, generated from the result type.
    pub fn output_schema(&self) -> JsonObject {
        (self.output)()
    }

    /// Checks the arguments against the input schema, then runs the handler.
    pub async fn call(
        &self,
        app: Arc<App>,
        args: Option<JsonObject>,
        cx: CallCx,
    ) -> Result<Value, ToolError> {
        let args = args::check(&self.checked, args.unwrap_or_default(), self.nulls_clear)?;
        (self.handler)(app, Value::Object(args), cx).await
    }

    /// What the call would refuse before its handler runs: the schema check, then reading the
    /// typed arguments. Sends nothing.
    pub fn check_arguments(&self, args: JsonObject) -> Result<JsonObject, ToolError> {
        let args = args::check(&self.checked, args, self.nulls_clear)?;
        (self.parse)(Value::Object(args.clone()))?;
        Ok(args)
    }

    /// Drops properties of the input schema, at `path` (`email_addresses.items`) or the root
    /// when empty: update-only parts of a shared argument type on a create tool.
    pub fn without(self, path: &[&str], names: &[&str]) -> Self {
        self.edit_both(|s| schema::remove_properties(s, path, names))
    }

    /// Keeps arguments out of what clients see while still accepting them: compatible spellings
    /// (`fetch_all`, which `max_records` implies) and what a model rarely needs and can reach
    /// another way (`include_remote_data` on lists: a get or `capsule_api_request` gives it).
    pub fn hide(mut self, names: &[&'static str]) -> Self {
        self.hidden.extend_from_slice(names);
        self
    }

    /// The whole input schema arguments are checked against.
    pub fn checked_schema(&self) -> &JsonObject {
        &self.checked
    }

    fn edit_both(mut self, edit: impl Fn(&mut JsonObject)) -> Self {
        let mut checked = self.checked.as_ref().clone();
        edit(&mut checked);
        self.checked = Arc::new(checked);
        self
    }

    /// Declares arguments a call cannot do without: listed in the schema's `required` (and no
    /// longer nullable), checked before the handler runs.
    pub fn require(self, names: &[&str]) -> Self {
        self.edit_both(|s| schema::require(s, names))
    }
}

/// Per-call context: progress reporting and cancellation.
#[derive(Clone, Default)]
pub struct CallCx {
    pub peer: Option<Peer<RoleServer>>,
    pub progress_token: Option<ProgressToken>,
    pub ct: CancellationToken,
}

impl CallCx {
    /// Sends a progress notification when the client asked for progress.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: String) {
        if let (Some(peer), Some(token)) = (&self.peer, &self.progress_token) {
            let mut param =
                ProgressNotificationParam::new(token.clone(), progress).with_message(message);
            if let Some(total) = total {
                param = param.with_total(total);
            }
            if let Err(e) = peer.notify_progress(param).await {
                tracing::debug!(error = %e, "progress notification not delivered");
            }
        }
    }
}

/// The static description of a tool.
#[derive(Clone, Copy)]
pub struct Meta {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub toolset: &'static str,
    pub kind: Kind,
}

/// Builds a tool from typed arguments `A`, a typed output `O` and an async handler.
pub fn tool<A, O, F, Fut>(meta: Meta, handler: F) -> ToolSpec
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + 'static,
    F: Fn(Arc<App>, A, CallCx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
{
    let checked = schema::input_schema::<A>();
    let handler = Arc::new(handler);
    ToolSpec {
        meta,
        checked: Arc::new(checked),
        output: schema::output_schema::<O>,
        hidden: Vec::new(),
        parse: Arc::new(|args| parse_arguments::<A>(args).map(|_| ())),
        // Updates: fields left out keep their value, null clears one.
        nulls_clear: meta.kind == Kind::Update,
        handler: Arc::new(move |app, args, cx| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: A = parse_arguments(args)?;
                let out = handler(app, args, cx).await?;
                serde_json::to_value(out).map_err(|e| {
                    ToolError::new(500, "internal", format!("cannot encode the result: {e}"))
                })
            })
        }),
    }
}

fn parse_arguments<A: DeserializeOwned>(args: Value) -> Result<A, ToolError> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let inner = args::humanize(&e.into_inner().to_string());
        if path == "." {
            ToolError::invalid(format!("invalid arguments: {inner}"))
        } else {
            ToolError::invalid(format!("invalid argument `{path}`: {inner}"))
        }
    })
}

/// An update tool as listed next to its create tool: the arguments the create tool already
/// shows are left to it (the description says so), the rest stay (`id`, update-only ones such
/// as `remove_tags`, and `dry_run`). Every argument is still accepted and checked as before;
/// served without its create tool, an update lists them all.
pub fn refer_to_create(update: &Tool, create: &Tool) -> Tool {
    let properties = |s: &JsonObject| {
        s.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let created = properties(&create.input_schema);
    let taken = properties(&update.input_schema);
    let not_taken: Vec<&str> = created
        .keys()
        .filter(|k| !taken.contains_key(*k))
        .map(String::as_str)
        .collect();
    let kept: serde_json::Map<String, Value> = taken
        .iter()
        .filter(|(name, _)| *name == "id" || *name == "dry_run" || !created.contains_key(*name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut input = update.input_schema.as_ref().clone();
    input.insert("properties".into(), Value::Object(kept));
    let refer = if not_taken.is_empty() {
        format!("Other arguments as {}.", create.name)
    } else {
        format!(
            "Other arguments as {}, except {}.",
            create.name,
            not_taken.join(", ")
        )
    };
    let mut tool = update.clone();
    tool.input_schema = Arc::new(input);
    tool.description = Some(match update.description.as_deref() {
        Some(d) => format!("{d} {refer}").into(),
        None => refer.into(),
    });
    tool
}

/// Every tool this server has, sorted by name.
pub fn all_tools() -> Vec<ToolSpec> {
    let mut tools = Vec::new();
    tools.extend(contacts::tools());
    tools.extend(accounts::tools());
    tools.extend(opportunities::tools());
    tools.extend(pipelines::tools());
    tools.extend(notes::tools());
    tools.extend(engagements::tools());
    tools.extend(engagement_types::tools());
    tools.extend(proxy::tools());
    tools.extend(fields::tools());
    tools.extend(tags::tools());
    tools.extend(users::tools());
    tools.extend(directory::tools());
    tools.extend(deleted::tools());
    tools.extend(projects::tools());
    tools.extend(tasks::tools());
    tools.extend(search::tools());
    tools.sort_by(|a, b| a.name().cmp(b.name()));
    tools.into_iter().map(shown).collect()
}

/// What each tool shows of the arguments it accepts (issue 10: every token of the catalogue is
/// paid on every turn). Lists show `limit`, `cursor` and `detail` (`max_records`, which implies
/// `fetch_all`, is named once in the instructions; `tags` does what `tag` does); reference lists
/// no paging (the server instructions say how to
/// follow a `next_cursor`); no tool shows `include_remote_data` (the instructions name it once)
/// and writes do not show `remote_data` (raw Capsule fields go through `capsule_api_request`).
/// All of them are still accepted.
fn shown(spec: ToolSpec) -> ToolSpec {
    let name = spec.name();
    let spec = spec.hide(&["include_remote_data", "fetch_all"]);
    if list::REFERENCE_LISTS.contains(&name) {
        spec.hide(&["limit", "cursor", "max_records"])
    } else if matches!(spec.kind(), Kind::Create | Kind::Update) {
        spec.hide(&["remote_data"])
    } else if name.contains("_list_") {
        // `tags` takes one or several; `max_records` is in the instructions.
        spec.hide(&["tag", "max_records"])
    } else {
        spec
    }
}

/// The toolsets the given tools belong to, for `--toolsets`.
pub fn toolsets(tools: &[ToolSpec]) -> Vec<&'static str> {
    let mut sets: Vec<&'static str> = tools.iter().map(ToolSpec::toolset).collect();
    sets.sort_unstable();
    sets.dedup();
    sets
}
