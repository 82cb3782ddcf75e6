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
    config::{self, AuthCommand, Cli, Command, Common, HttpArgs},
    credentials::TokenFile,
    login,
    sandbox::{self, Sandbox, SandboxOptions},
    server::{CapsuleMcp, Registry, Selection},
    team::{
        self,
        oauth::{AuthServer, AuthSettings},
        people::People,
        seal::{self, Sealer},
    },
    tools,
    transport::{
        self,
        http::{self, HttpOptions},
    },
};

/// mimalloc instead of glibc's malloc (issue 14): per-thread free lists without glibc's
/// per-thread arenas, so less CPU a call and less resident memory under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Writes a line to stdout; a reader that went away (`| head`) ends the output quietly instead
/// of a panic.
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

/// The team server (`http --oauth`): every person signs in and acts in Capsule as themselves.
/// Refuses, saying what to set, a missing public URL, Capsule application or state key.
async fn build_team(
    common: &Common,
    args: &HttpArgs,
) -> anyhow::Result<(CapsuleMcp, Option<Sandbox>, Arc<AuthServer>)> {
    let registry = Registry::build(&Selection {
        read_only: common.read_only,
        toolsets: common.toolsets.clone(),
        tools: common.tools.clone(),
    })
    .map_err(anyhow::Error::msg)?;
    let public = match &args.public_url {
        Some(u) => team::oauth::public_url(u).map_err(anyhow::Error::msg)?,
        // Trying it locally: the listen address is the public one.
        None if common.sandbox && args.listen.ip().is_loopback() && args.listen.port() != 0 => {
            format!("http://{}", args.listen)
        }
        None => anyhow::bail!(
            "--oauth needs the base URL clients reach: set CAPSULE_MCP_PUBLIC_URL (or \
             --public-url), e.g. https://mcp.example.com; register \
             <that URL>/oauth/callback as your Capsule application's redirect URI"
        ),
    };
    let sealer = match std::env::var(seal::KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        Some(key) => Sealer::from_base64(&key.into())?,
        None if common.sandbox => {
            tracing::info!(
                "no {} set: sealing with a key that lives as long as this process",
                seal::KEY_ENV
            );
            Sealer::random()
        }
        None => anyhow::bail!(
            "--oauth needs {} to seal the Capsule tokens it stores: set it to 32 random bytes \
             in base64 (`openssl rand -base64 32`), the same on every replica",
            seal::KEY_ENV
        ),
    };
    let sealer = Arc::new(sealer);
    let (api_url, capsule, sandbox) = if common.sandbox {
        let sb = Sandbox::start(
            ([127, 0, 0, 1], 0).into(),
            SandboxOptions {
                choose_user: true,
                redirect_uris: vec![format!("{public}/oauth/callback")],
                ..SandboxOptions::default()
            },
        )
        .await
        .context("cannot start the sandbox Capsule")?;
        tracing::info!(api_url = %sb.api_url(), "using the sandbox Capsule (demo data and its demo OAuth application)");
        let app = capsule_mcp::capsule::oauth::OAuthApp::for_api_url(
            &sb.api_url(),
            sandbox::DEMO_CLIENT_ID.into(),
            sandbox::DEMO_CLIENT_SECRET.to_owned().into(),
        )?;
        (sb.api_url(), app, Some(sb))
    } else {
        capsule_mcp::capsule::client::validate_api_url(&common.api_url)?;
        let client_id = std::env::var("CAPSULE_CLIENT_ID")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .context(
                "--oauth needs the server's Capsule OAuth application: set CAPSULE_CLIENT_ID \
                 and CAPSULE_CLIENT_SECRET (Capsule: My Preferences → Integrations → \
                 register an application)",
            )?;
        let client_secret = std::env::var("CAPSULE_CLIENT_SECRET")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .context("--oauth needs CAPSULE_CLIENT_SECRET, the secret of CAPSULE_CLIENT_ID's application")?;
        let api_url = common.api_url.trim_end_matches('/').to_owned();
        let app = capsule_mcp::capsule::oauth::OAuthApp::for_api_url(
            &api_url,
            client_id,
            client_secret.into(),
        )?;
        (api_url, app, None)
    };
    let store = team::store::open(args.state_url.as_deref()).await?;
    tracing::info!(store = %store.describe(), public = %public, "team server state");
    let client_options = common.client_options(api_url);
    let people = People::new(
        store.clone(),
        sealer.clone(),
        capsule.clone(),
        client_options.clone(),
        Duration::from_secs(common.cache_ttl),
        common.read_only,
    )?;
    let auth = AuthServer::new(
        AuthSettings {
            public_url: public,
            capsule,
            client_options,
            access_ttl: Duration::from_secs(args.oauth_access_ttl.max(1)),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            allow_loopback_client_ids: args.oauth_allow_loopback_client_ids || common.sandbox,
        },
        store,
        sealer,
    )
    .map_err(anyhow::Error::msg)?;
    Ok((
        CapsuleMcp::for_people(people, Arc::new(registry)),
        sandbox,
        auth,
    ))
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
                out(&serde_json::to_string_pretty(&registry.tools()?)?)?;
            } else {
                out(tools::catalogue::table(&registry.tools()?).trim_end())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth(cmd) => auth(cmd, &cli.common).await,
        Command::Sandbox {
            listen,
            redirect_uri,
            auto_approve,
        } => {
            let opts = SandboxOptions {
                choose_user: !auto_approve,
                redirect_uris: redirect_uri,
                ..SandboxOptions::default()
            };
            sandbox::run_standalone(listen, opts).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stdio => {
            let (server, _sandbox) = build(&cli.common).await?;
            transport::stdio::serve(server).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Http(args) => {
            let auth_token = config::http_auth_token().map_err(anyhow::Error::msg)?;
            if args.oauth && auth_token.is_some() {
                anyhow::bail!(
                    "--oauth and CAPSULE_MCP_AUTH_TOKEN are two ways to authenticate /mcp: with \
                     --oauth every person signs in with OAuth, so unset CAPSULE_MCP_AUTH_TOKEN"
                );
            }
            let (server, _sandbox, oauth) = if args.oauth {
                let (server, sandbox, auth) = build_team(&cli.common, &args).await?;
                (server, sandbox, Some(auth))
            } else {
                let (server, sandbox) = build(&cli.common).await?;
                (server, sandbox, None)
            };
            let mut opts = HttpOptions {
                listen: args.listen,
                auth_token,
                oauth: oauth.clone(),
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
            if let Some(auth) = &oauth
                && let Ok(public) = url::Url::parse(auth.issuer())
            {
                // Clients and browsers reach the server by its public name; the consent form
                // posts from its origin.
                if let Some(host) = public.host_str()
                    && !opts.allowed_hosts.iter().any(|h| h == host)
                {
                    opts.allowed_hosts
                        .push(host.trim_matches(['[', ']']).to_owned());
                }
                let origin = public.origin().ascii_serialization();
                if !opts.allowed_origins.contains(&origin) {
                    opts.allowed_origins.push(origin);
                }
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
