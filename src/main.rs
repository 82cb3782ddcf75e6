use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use capsule_mcp::{
    app::App,
    capsule::{
        CapsuleClient,
        auth::{OAuthTokens, StaticToken, TokenProvider},
    },
    config::{self, AuthCommand, Cli, Command, Common},
    credentials::TokenFile,
    login,
    sandbox::{self, Sandbox, SandboxOptions},
    server::{CapsuleMcp, Registry, Selection},
    tools,
    transport::{
        self,
        http::{self, HttpOptions},
    },
};

/// Writes a line to stdout; a reader that went away (`| head`) ends the output quietly instead
/// of a panic.
/// mimalloc instead of glibc's malloc (issue 14): per-thread free lists without glibc's
/// per-thread arenas, so less CPU a call and less resident memory under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(Into::into),
    }
}

/// The log filter for `--log-level` when `RUST_LOG` is not set: rmcp's own info events (three
/// per stateless HTTP request, one with the client's whole `initialize` params) only at warn,
/// unless the filter names rmcp or asks for debug or trace.
fn log_filter(level: &str) -> String {
    if ["rmcp", "debug", "trace"].iter().any(|w| level.contains(w)) {
        level.to_owned()
    } else {
        format!("{level},rmcp=warn")
    }
}

fn init_logs(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(log_filter(level)))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // stdout is the JSON-RPC channel in stdio mode: logs go to stderr only.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// The server for the configured credential; holds the in-process sandbox when asked for one.
async fn build(common: &Common) -> anyhow::Result<(CapsuleMcp, Option<Sandbox>)> {
    let selection = Selection {
        read_only: common.read_only,
        toolsets: common.toolsets.clone(),
        tools: common.tools.clone(),
    };
    let registry = Registry::build(&selection).map_err(anyhow::Error::msg)?;
    let (api_url, token, sandbox) = if common.sandbox {
        let sb = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxOptions::default())
            .await
            .context("cannot start the sandbox Capsule")?;
        tracing::info!(api_url = %sb.api_url(), "using the sandbox Capsule (demo data)");
        (
            sb.api_url(),
            StaticToken::new(sandbox::ADMIN_TOKEN.to_owned().into(), "the sandbox")
                as Arc<dyn TokenProvider>,
            Some(sb),
        )
    } else if let Some(token) = config::capsule_access_token() {
        // A personal access token in the environment wins over a stored OAuth login.
        (
            common.api_url.clone(),
            StaticToken::new(token, "CAPSULE_ACCESS_TOKEN") as Arc<dyn TokenProvider>,
            None,
        )
    } else {
        let file = TokenFile::default_location()?;
        let creds = file.load()?.context(config::NO_CREDENTIALS)?;
        let api_url = creds.api_url.clone();
        config::check_api_url(&api_url)
            .map_err(|e| anyhow::anyhow!("the stored OAuth login's API URL: {e}"))?;
        let secret = std::env::var("CAPSULE_CLIENT_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Into::into);
        (
            api_url,
            OAuthTokens::new(file, creds, secret)? as Arc<dyn TokenProvider>,
            None,
        )
    };
    let client = CapsuleClient::new(common.client_options(api_url), token)?;
    let app = App::new(
        client,
        Duration::from_secs(common.cache_ttl),
        common.read_only,
    );
    Ok((CapsuleMcp::new(Arc::new(app), Arc::new(registry)), sandbox))
}

/// Operator mistakes that would otherwise surface late (or never): refused before anything
/// starts, without echoing the secret or URL involved.
fn check_settings(common: &Common) -> anyhow::Result<()> {
    config::check_api_url(&common.api_url).map_err(anyhow::Error::msg)?;
    config::check_capsule_access_token().map_err(anyhow::Error::msg)?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if !matches!(cli.command, Command::Tools { .. } | Command::Sandbox { .. }) {
        check_settings(&cli.common)?;
    }
    match cli.command {
        Command::Tools { json } => {
            let registry = Registry::build(&Selection {
                read_only: cli.common.read_only,
                toolsets: cli.common.toolsets.clone(),
                tools: cli.common.tools.clone(),
            })
            .map_err(anyhow::Error::msg)?;
            if json {
                out(&serde_json::to_string_pretty(registry.tools())?)?;
            } else {
                out(tools::catalogue::table(registry.tools()).trim_end())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth(cmd) => auth(cmd, &cli.common).await,
        Command::Sandbox { listen } => {
            sandbox::run_standalone(listen, SandboxOptions::default()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stdio => {
            let (server, _sandbox) = build(&cli.common).await?;
            transport::stdio::serve(server).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Http(args) => {
            let auth_token = config::http_auth_token().map_err(anyhow::Error::msg)?;
            let (server, _sandbox) = build(&cli.common).await?;
            let mut opts = HttpOptions {
                listen: args.listen,
                auth_token,
                max_body_bytes: args.max_body_bytes,
                session_idle_timeout: Duration::from_secs(args.session_idle_timeout),
                max_sessions: args.max_sessions,
                stateless: args.stateless,
                header_read_timeout: Duration::from_secs(args.header_read_timeout),
                body_read_timeout: Duration::from_secs(args.body_read_timeout),
                max_connections: args.max_connections,
                ..HttpOptions::default()
            };
            if let Some(hosts) = args.allowed_hosts {
                opts.allowed_hosts = hosts;
            }
            if let Some(origins) = args.allowed_origins {
                opts.allowed_origins = origins;
            }
            opts.validate().map_err(anyhow::Error::msg)?;
            let shutdown = CancellationToken::new();
            // Stateless tools/calls skip rmcp's per-request service (see transport/http/direct.rs).
            let direct: Arc<dyn http::DirectCalls> = Arc::new(server.clone());
            let bound =
                http::bind_with(move || server.clone(), Some(direct), opts, shutdown.clone())
                    .await?;
            // Tests and scripts read this line to find the port.
            eprintln!("capsule-mcp listening on http://{}/mcp", bound.addr);
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.cancel();
            });
            bound.serve().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Call { tool, arguments } => {
            let (server, _sandbox) = build(&cli.common).await?;
            let args: serde_json::Value = serde_json::from_str(&arguments)
                .context("the arguments must be a JSON object, e.g. '{\"limit\": 5}'")?;
            let serde_json::Value::Object(args) = args else {
                anyhow::bail!("the arguments must be a JSON object, e.g. '{{\"limit\": 5}}'");
            };
            match server.call_direct(&tool, Some(args)).await {
                Ok(v) => {
                    out(&serde_json::to_string_pretty(&v)?)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    out(&serde_json::to_string_pretty(&e)?)?;
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

async fn auth(cmd: AuthCommand, common: &Common) -> anyhow::Result<ExitCode> {
    let file = TokenFile::default_location()?;
    match cmd {
        AuthCommand::Login(a) => {
            capsule_mcp::capsule::client::validate_api_url(&common.api_url)?;
            let client_id = a
                .client_id
                .context("no OAuth client id: set CAPSULE_CLIENT_ID or pass --client-id")?;
            let client_secret = a
                .client_secret
                .context("no OAuth client secret: set CAPSULE_CLIENT_SECRET")?;
            let line = login::login(
                login::LoginOptions {
                    api_url: common.api_url.trim_end_matches('/').to_owned(),
                    client_id,
                    client_secret,
                    port: a.port,
                    no_browser: a.no_browser,
                    scope: a.scope,
                    timeout: Duration::from_secs(a.timeout.max(1)),
                },
                &file,
            )
            .await?;
            eprintln!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        AuthCommand::Status => {
            let (ok, text) = login::status(&common.api_url, &file).await?;
            out(&text)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuthCommand::Logout => {
            out(&login::logout(&file).await?.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.common.log_level);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capsule-mcp: {e:#}");
            ExitCode::from(2)
        }
    }
}
