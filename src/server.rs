//! The rmcp `ServerHandler`: the tool registry after the serving policy (read-only mode,
//! toolsets, allow-list), argument checks, and each call run under its cancellation token.

#![allow(deprecated)] // MCP logging: deprecated by SEP-2577, still what handshake-era clients use.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
        CompleteResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
        ServerConfig, SetLevelRequestParams, Tool,
    },
    service::RequestContext,
};

use crate::{
    app::App,
    completions, confirm, prompts, resources,
    tools::{self, CallCx, ToolSpec},
};

pub const INSTRUCTIONS: &str = "Capsule CRM. A `*_id` comes from the matching crm_list_* \
tool (owner: crm_list_users, team: directory_list_users); stages, pipelines and boards may be \
named, owners by username or email. Dates YYYY-MM-DD, timestamps ISO-8601. Lists: lean \
records, filters AND, `next_cursor` back as `cursor`, `limit` 1-100, `max_records` (up to 5000) \
reads all pages; whole records with `detail: full` or a get, raw Capsule JSON with \
`include_remote_data`. Writes: `dry_run` sends nothing; `custom_fields` `{name: value}` \
(crm_list_fields); updates keep what is left out, null clears.";

/// Which tools a server offers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only tools whose `readOnlyHint` is true.
    pub read_only: bool,
    /// Resource groups to serve (`contacts`, `accounts`, ...); all when `None`.
    pub toolsets: Option<Vec<String>>,
    /// Exact tool names to serve; all when `None`.
    pub tools: Option<Vec<String>>,
}

/// The tools this process serves, fixed at start-up.
pub struct Registry {
    specs: BTreeMap<&'static str, ToolSpec>,
    /// What `tools/list` serves of each tool, as compact JSON: as `serde_json` trees the
    /// advertised schemas took most of the registry's heap, all of it resident for the life
    /// of the process, to be read only when a client lists the tools (issue 14).
    listed: BTreeMap<&'static str, Box<str>>,
}

impl Registry {
    /// Applies the selection to every tool; unknown toolset or tool names are an error.
    pub fn build(sel: &Selection) -> Result<Self, String> {
        let all = tools::all_tools();
        if let Some(sets) = &sel.toolsets {
            let known = tools::toolsets(&all);
            for s in sets {
                if !known.contains(&s.as_str()) {
                    return Err(format!(
                        "unknown toolset `{s}`; known toolsets: {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if let Some(names) = &sel.tools {
            for n in names {
                if !all.iter().any(|t| t.name() == n) {
                    return Err(format!(
                        "unknown tool `{n}`; see `capsule-mcp tools` for the names"
                    ));
                }
            }
        }
        let specs: BTreeMap<&'static str, ToolSpec> = all
            .into_iter()
            .filter(|t| !sel.read_only || t.is_read_only() || t.kind() == tools::Kind::Proxy)
            .filter(|t| {
                sel.toolsets
                    .as_ref()
                    .is_none_or(|sets| sets.iter().any(|s| s == t.toolset()))
            })
            .filter(|t| {
                sel.tools
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n == t.name()))
            })
            .map(|t| (t.name(), t))
            .collect();
        let mut listed = BTreeMap::new();
        for s in specs.values() {
            let mut tool = s.tool();
            if s.kind() == tools::Kind::Update
                && let Some(create) =
                    specs.get(s.name().replacen("_update_", "_create_", 1).as_str())
            {
                // The create tool is in the same catalogue: name only what differs.
                tool = tools::refer_to_create(&tool, &create.tool());
            }
            if sel.read_only && s.kind() == tools::Kind::Proxy {
                // In read-only mode the proxy only sends GET: say so to clients.
                tool.annotations = tool
                    .annotations
                    .map(|a| a.read_only(true).destructive(false).idempotent(true));
                tool.input_schema = Arc::new(tools::proxy::read_only_input(&tool.input_schema));
                tool.description = Some(tools::proxy::READ_ONLY_DESCRIPTION.into());
            }
            tool.output_schema = Some(Arc::new(s.output_schema()));
            let json = serde_json::to_string(&tool)
                .map_err(|e| format!("cannot encode the tool `{}`: {e}", s.name()))?;
            // Each tool's trees are freed before the next tool's are built.
            listed.insert(s.name(), json.into_boxed_str());
        }
        Ok(Self { specs, listed })
    }

    /// The catalogue as `tools/list` serves it, read from its JSON on every call (over HTTP a
    /// plain list is answered from [`Registry::list_result`] instead).
    pub fn tools(&self) -> Result<Vec<Tool>, serde_json::Error> {
        self.listed
            .values()
            .map(|json| serde_json::from_str(json))
            .collect()
    }

    /// One tool as `tools/list` serves it, read from its JSON.
    pub fn tool(&self, name: &str) -> Option<Result<Tool, serde_json::Error>> {
        self.listed.get(name).map(|json| serde_json::from_str(json))
    }

    /// The `tools/list` result (`{"tools":[…]}`) as JSON, exactly as rmcp encodes it for a
    /// peer before protocol 2026-07-28 (no `resultType`, no cursor): the listed tools' JSON
    /// joined, without reading any of it.
    pub fn list_result(&self) -> String {
        let tools: Vec<&str> = self.listed.values().map(|t| &**t).collect();
        format!(r#"{{"tools":[{}]}}"#, tools.join(","))
    }

    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.specs.get(name)
    }
}

/// One MCP server over one Capsule credential (or one per person on a team server). Cheap to
/// clone: HTTP sessions each get a clone, which shares the apps (and the caches they hold) and
/// the registry but starts its own session state (the MCP log level).
pub struct CapsuleMcp {
    apps: Apps,
    registry: Arc<Registry>,
    /// The level `logging/setLevel` asked for; no log notifications until a client sets one.
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

impl Clone for CapsuleMcp {
    fn clone(&self) -> Self {
        Self {
            apps: self.apps.clone(),
            registry: self.registry.clone(),
            log_level: Arc::default(),
        }
    }
}

/// Severity order of MCP log levels.
fn rank(l: LoggingLevel) -> u8 {
    match l {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// Whom calls act as: the one configured credential, or on a team server the person the
/// request's MCP token belongs to.
#[derive(Clone)]
enum Apps {
    One(Arc<App>),
    People(Arc<crate::team::people::People>),
}

impl CapsuleMcp {
    pub fn new(app: Arc<App>, registry: Arc<Registry>) -> Self {
        Self {
            apps: Apps::One(app),
            registry,
            log_level: Arc::default(),
        }
    }

    /// A team server: every request runs as the [`Person`](crate::team::person::Person) the
    /// HTTP front end put into its extensions.
    pub fn for_people(people: Arc<crate::team::people::People>, registry: Arc<Registry>) -> Self {
        Self {
            apps: Apps::People(people),
            registry,
            log_level: Arc::default(),
        }
    }

    /// Sends a log event to the client when its level lets it through; the event is built only
    /// then (by default no level is set and every call skips it).
    async fn log(
        &self,
        ctx: &RequestContext<RoleServer>,
        level: LoggingLevel,
        data: impl FnOnce() -> serde_json::Value,
    ) {
        let wanted = self.log_level.lock().ok().and_then(|l| *l);
        if wanted.is_some_and(|w| rank(level) >= rank(w)) {
            let param =
                LoggingMessageNotificationParam::new(level, data()).with_logger("capsule-mcp");
            if let Err(e) = ctx.peer.notify_logging_message(param).await {
                tracing::debug!(error = %e, "log notification not delivered");
            }
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The app this request acts through.
    fn app_for(&self, ctx: &RequestContext<RoleServer>) -> Result<Arc<App>, McpError> {
        self.app_for_parts(ctx.extensions.get::<axum::http::request::Parts>())
    }

    /// The app a request with these HTTP parts (none over stdio) acts through.
    fn app_for_parts(
        &self,
        parts: Option<&axum::http::request::Parts>,
    ) -> Result<Arc<App>, McpError> {
        match &self.apps {
            Apps::One(app) => Ok(app.clone()),
            Apps::People(people) => {
                let person = parts
                    .and_then(|p| p.extensions.get::<crate::team::person::Person>())
                    .ok_or_else(|| {
                        McpError::invalid_request(
                            "this team server needs a signed-in person for every request",
                            None,
                        )
                    })?;
                people
                    .app_for(person)
                    .map_err(|e| McpError::internal_error(e.to_string(), None))
            }
        }
    }

    /// Runs one tool outside MCP (for `capsule-mcp call`): Ok is the structured result, Err the
    /// error body.
    pub async fn call_direct(
        &self,
        name: &str,
        args: Option<rmcp::model::JsonObject>,
    ) -> Result<serde_json::Value, serde_json::Value> {
        let Some(spec) = self.registry.get(name) else {
            return Err(serde_json::json!({"error": {"code": "unknown_tool",
                "message": format!("unknown tool `{name}`; see `capsule-mcp tools`")}}));
        };
        let Apps::One(app) = &self.apps else {
            return Err(serde_json::json!({"error": {"code": "team_server",
                "message": "a team server runs calls only for signed-in people, over HTTP"}}));
        };
        spec.call(app.clone(), args, CallCx::default())
            .await
            .map_err(|e| e.to_value())
    }
}

/// One finished tool call: the result, and what the log event says of it.
struct Done {
    result: CallToolResult,
    tool: String,
    ms: u64,
    capsule_requests: u64,
    error_code: Option<String>,
}

impl Done {
    fn level(&self) -> LoggingLevel {
        if self.error_code.is_some() {
            LoggingLevel::Warning
        } else {
            LoggingLevel::Info
        }
    }

    fn event(&self) -> serde_json::Value {
        let mut event = serde_json::json!({"event": "tool_call", "tool": self.tool,
            "outcome": if self.error_code.is_some() { "error" } else { "ok" },
            "duration_ms": self.ms, "capsule_requests": self.capsule_requests});
        if let Some(code) = &self.error_code {
            event["error_code"] = code.as_str().into();
        }
        event
    }
}

impl CapsuleMcp {
    /// Runs one tool call under `cx.ct`: a tool's failure is an `isError` result; `Err` is a
    /// protocol fault (unknown tool, cancelled). `confirm_with` is the peer to ask before a
    /// delete, when the client can be asked.
    async fn run_call(
        &self,
        request: CallToolRequestParams,
        app: Arc<App>,
        cx: CallCx,
        confirm_with: Option<rmcp::Peer<RoleServer>>,
    ) -> Result<Done, McpError> {
        let Some(spec) = self.registry.get(&request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        let tool = request.name.to_string();
        let started = Instant::now();
        let ct = cx.ct.clone();
        let registry = self.registry.clone();
        let run = async move {
            if let Some(peer) = &confirm_with {
                // Boxed: held inline, the confirmation (a read and an elicitation) would make
                // every call's future several KB larger, though only deletes ask.
                Box::pin(confirm::before_delete(
                    &app,
                    &registry,
                    spec,
                    request.arguments.as_ref(),
                    peer,
                ))
                .await?;
            }
            spec.call(app, request.arguments, cx).await
        };
        let (outcome, capsule_requests) = tokio::select! {
            // Dropping the call drops its in-flight Capsule request (the connection closes).
            _ = ct.cancelled() => {
                tracing::info!(%tool, "call cancelled");
                return Err(McpError::internal_error("cancelled", None));
            }
            r = crate::capsule::client::tally(run) => r,
        };
        let ms = started.elapsed().as_millis() as u64;
        let (result, error_code) = match outcome {
            Ok(value) => {
                tracing::info!(%tool, ms, capsule_requests, "call ok");
                (CallToolResult::structured(value), None)
            }
            Err(e) => {
                tracing::info!(%tool, ms, capsule_requests, code = e.code(), status = e.status(), "call failed");
                (error_result(&e), Some(e.code().to_owned()))
            }
        };
        Ok(Done {
            result,
            tool,
            ms,
            capsule_requests,
            error_code,
        })
    }
}

impl crate::transport::http::DirectCalls for CapsuleMcp {
    fn knows(&self, tool: &str) -> bool {
        self.registry.get(tool).is_some()
    }

    fn tool_list(&self) -> String {
        self.registry.list_result()
    }

    fn initialize(
        &self,
        params: &rmcp::model::InitializeRequestParams,
    ) -> Result<rmcp::model::InitializeResult, McpError> {
        self.negotiate_initialize(params)
    }

    fn asks(&self, tool: &str) -> bool {
        self.registry
            .get(tool)
            .is_some_and(|s| s.kind() == crate::tools::Kind::Delete)
    }

    fn call(
        &self,
        params: CallToolRequestParams,
        parts: axum::http::request::Parts,
    ) -> crate::transport::http::BoxFuture<'_, Result<CallToolResult, McpError>> {
        Box::pin(async move {
            let app = self.app_for_parts(Some(&parts))?;
            // Stateless: no peer to notify or ask (no progress, no log level, no
            // elicitation), as when rmcp serves the request on its own.
            let cx = CallCx::default();
            Ok(self.run_call(params, app, cx, None).await?.result)
        })
    }
}

/// An error the model can act on: `isError` with the error body as text, and no
/// `structuredContent` — which would have to match the tool's output schema (the TypeScript SDK
/// refuses the whole result otherwise, and the model never sees the message).
pub fn error_result(e: &tools::ToolError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.to_value().to_string())])
}

impl ServerHandler for CapsuleMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_completions()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(
            "capsule-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self.registry.tools().map_err(|e| {
            McpError::internal_error(format!("cannot read the tool catalogue: {e}"), None)
        })?;
        Ok(ListToolsResult {
            tools,
            ..Default::default()
        })
    }

    /// The tool as listed: rmcp reads its input schema when a 2026 client sends `Mcp-Param-*`
    /// headers with a call.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        match self.registry.tool(name)? {
            Ok(tool) => Some(tool),
            Err(e) => {
                tracing::error!(tool = name, error = %e, "the listed tool does not read");
                None
            }
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let app = self.app_for(&ctx)?;
        let cx = CallCx {
            peer: Some(ctx.peer.clone()),
            progress_token: ctx.meta.get_progress_token(),
            ct: ctx.ct.clone(),
        };
        let asks = confirm::can_ask(ctx.protocol_version(), ctx.client_capabilities().as_ref());
        let confirm_with = asks.then(|| ctx.peer.clone());
        let done = self.run_call(request, app, cx, confirm_with).await?;
        self.log(&ctx, done.level(), || done.event()).await;
        Ok(done.result.into())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut l) = self.log_level.lock() {
            *l = Some(request.level);
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult {
            resources: resources::list(&self.registry),
            ..Default::default()
        })
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult {
            resource_templates: resources::templates(&self.registry),
            ..Default::default()
        })
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let value = resources::read(self.app_for(&ctx)?, &self.registry, &request.uri).await?;
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![resources::contents(&request.uri, &value)],
        )))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult {
            prompts: prompts::list(&self.registry),
            ..Default::default()
        })
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let result = prompts::get(
            self.app_for(&ctx)?,
            &self.registry,
            &request.name,
            request.arguments,
        )
        .await?;
        Ok(GetPromptResponse::Complete(result))
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        // The app's own cache: on a team server, the person's.
        let app = self.app_for(&ctx)?;
        let info =
            completions::complete(app.clone(), &self.registry, &app.completions, &request).await?;
        Ok(CompleteResult::new(info))
    }
}
