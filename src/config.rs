//! Command line and environment, read once at start-up into typed settings. Every flag has an
//! environment twin; secrets come from the environment only and never print.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "capsule-mcp",
    version,
    about = "MCP server that gives AI agents a unified CRM API over a Capsule CRM account",
    after_help = "Credentials: set CAPSULE_ACCESS_TOKEN to a Capsule personal access token \
(Capsule: My Preferences → API Authentication Tokens), or pass --sandbox to try the server on \
a built-in demo Capsule."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdin/stdout (for Claude Desktop, Claude Code, Cursor, VS Code).
    Stdio,
    /// Serve MCP over streamable HTTP at /mcp.
    #[command(
        after_help = "Authentication: set CAPSULE_MCP_AUTH_TOKEN to a long random \
secret and every /mcp request must send `Authorization: Bearer <token>` (required on a \
non-loopback address; set but empty is an error). The token is read from the environment \
only. GET /healthz answers 200 without the token, for load balancers."
    )]
    Http(HttpArgs),
    /// Print the tool catalogue.
    Tools {
        /// Print the full JSON catalogue (what tools/list serves).
        #[arg(long)]
        json: bool,
    },
    /// Call one tool from the shell and print its structured result.
    Call {
        /// Tool name, e.g. crm_list_contacts.
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
    },
    /// Log in to Capsule with OAuth, show the login, or log out.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Run the sandbox Capsule alone and print its API URL and demo tokens.
    Sandbox {
        #[arg(long, env = "CAPSULE_SANDBOX_LISTEN", default_value = "127.0.0.1:8788")]
        listen: SocketAddr,
        /// Comma-separated redirect URIs the demo OAuth application accepts, e.g. a team
        /// server's https://mcp.example.com/oauth/callback (loopback
        /// http://127.0.0.1:PORT/callback, the `auth login` listener, is always accepted).
        #[arg(long, env = "CAPSULE_SANDBOX_REDIRECT_URIS", value_delimiter = ',')]
        redirect_uri: Vec<String>,
        /// Approve OAuth requests at once as the admin user instead of showing the page that
        /// chooses a demo user.
        #[arg(long, env = "CAPSULE_SANDBOX_AUTO_APPROVE")]
        auto_approve: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Authorise capsule-mcp in the browser (OAuth authorization code with PKCE) and store the tokens.
    Login(LoginArgs),
    /// Show which credential is in use: user, account, scopes, expiry (never the token).
    Status,
    /// Revoke the stored tokens where Capsule allows it and delete them.
    Logout,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// OAuth client id of your registered Capsule application.
    #[arg(long, env = "CAPSULE_CLIENT_ID")]
    pub client_id: Option<String>,
    /// OAuth client secret (prefer the environment variable).
    #[arg(long, env = "CAPSULE_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub client_secret: Option<SecretString>,
    /// Port of the one-shot redirect listener on 127.0.0.1 (the redirect URI is
    /// http://127.0.0.1:PORT/callback; register it with your application). 0 picks a free port.
    #[arg(long, env = "CAPSULE_OAUTH_PORT", default_value_t = 8789)]
    pub port: u16,
    /// Only print the URL; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Scopes to ask for.
    #[arg(long, env = "CAPSULE_OAUTH_SCOPE", default_value = "read write")]
    pub scope: String,
    /// Seconds to wait for the browser.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Capsule API root.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_API_URL",
        hide_env_values = true,
        default_value = crate::capsule::client::DEFAULT_API_URL
    )]
    pub api_url: String,
    /// Start the built-in sandbox Capsule on a loopback port and use it (demo data).
    #[arg(long, global = true, env = "CAPSULE_MCP_SANDBOX")]
    pub sandbox: bool,
    /// Serve only read-only tools; the proxy sends GET only.
    #[arg(long, global = true, env = "CAPSULE_MCP_READ_ONLY")]
    pub read_only: bool,
    /// Comma-separated toolsets to serve (default all), e.g. contacts,accounts.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_MCP_TOOLSETS",
        value_delimiter = ','
    )]
    pub toolsets: Option<Vec<String>>,
    /// Comma-separated exact tool names to serve (default all).
    #[arg(long, global = true, env = "CAPSULE_MCP_TOOLS", value_delimiter = ',')]
    pub tools: Option<Vec<String>>,
    /// Log level or filter for stderr logs (RUST_LOG syntax); RUST_LOG wins when set.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_MCP_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Seconds reference data (field definitions, tags, pipelines, users) stays cached.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_MCP_CACHE_TTL",
        default_value_t = 300
    )]
    pub cache_ttl: u64,
    /// Seconds one request to Capsule may take.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_MCP_REQUEST_TIMEOUT",
        default_value_t = 20
    )]
    pub request_timeout: u64,
    /// Seconds one tool call may take, retries and rate-limit waits included.
    #[arg(
        long,
        global = true,
        env = "CAPSULE_MCP_CALL_BUDGET",
        default_value_t = 60
    )]
    pub call_budget: u64,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Address to listen on. A non-loopback address needs a bearer token in
    /// CAPSULE_MCP_AUTH_TOKEN (environment only, so it never shows in `ps`).
    #[arg(long, env = "CAPSULE_MCP_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Comma-separated Host names accepted (default: localhost, 127.0.0.1, ::1).
    #[arg(long, env = "CAPSULE_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Comma-separated Origins accepted, e.g. http://localhost:* (default: loopback origins).
    #[arg(long, env = "CAPSULE_MCP_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Largest request body in bytes.
    #[arg(long, env = "CAPSULE_MCP_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds an idle session lives.
    #[arg(long, env = "CAPSULE_MCP_SESSION_IDLE_TIMEOUT", default_value_t = 1800)]
    pub session_idle_timeout: u64,
    /// Most sessions alive at once; at the cap a new session closes the one idle the longest.
    #[arg(long, env = "CAPSULE_MCP_MAX_SESSIONS", default_value_t = 100)]
    pub max_sessions: usize,
    /// Seconds a connection may go without a request in flight: from connecting to sending
    /// complete headers, and between requests. Slower connections are closed.
    #[arg(long, env = "CAPSULE_MCP_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a request body may take to arrive once its headers have (then 408).
    #[arg(long, env = "CAPSULE_MCP_BODY_READ_TIMEOUT", default_value_t = 30)]
    pub body_read_timeout: u64,
    /// Most open connections at once; at the cap a new connection closes the one idle the
    /// longest.
    #[arg(long, env = "CAPSULE_MCP_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
    /// No sessions: every request stands alone (for load balancers).
    #[arg(long, env = "CAPSULE_MCP_STATELESS")]
    pub stateless: bool,
    /// A team server: every person signs in with OAuth and acts in Capsule as themselves.
    /// Needs --public-url, the server's Capsule application in CAPSULE_CLIENT_ID and
    /// CAPSULE_CLIENT_SECRET, and CAPSULE_MCP_STATE_KEY (`openssl rand -base64 32`).
    #[arg(long, env = "CAPSULE_MCP_OAUTH")]
    pub oauth: bool,
    /// With --oauth: the base URL clients reach, https (or http on loopback), e.g.
    /// https://mcp.example.com; MCP is at its /mcp and Capsule redirects to its
    /// /oauth/callback (register that with your Capsule application).
    #[arg(long, env = "CAPSULE_MCP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// With --oauth: where the shared state lives (default: in this process).
    #[arg(long, env = "CAPSULE_MCP_STATE_URL", hide_env_values = true)]
    pub state_url: Option<String>,
    /// With --oauth: seconds an MCP access token lives (refresh tokens live 30 days).
    #[arg(long, env = "CAPSULE_MCP_OAUTH_ACCESS_TTL", default_value_t = 3600)]
    pub oauth_access_ttl: u64,
    /// With --oauth: also accept client ID metadata documents served from loopback
    /// (127.0.0.1, ::1, localhost; http or https), for local tests. Off by default: anyone can
    /// send a client_id URL, so only public addresses are fetched. --sandbox turns it on.
    #[arg(
        long,
        env = "CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub oauth_allow_loopback_client_ids: bool,
}

/// Parses a secret argument straight into a redacting type, so `Debug` never shows it.
fn secret(s: &str) -> Result<SecretString, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(s.to_owned()))
}

/// `CAPSULE_MCP_AUTH_TOKEN`: the bearer token HTTP clients must send (environment only).
/// Set but empty is an error, not "no auth": an empty value is a mistake (a missing secret in
/// a deployment), and serving without auth because of it would be silent.
pub fn http_auth_token() -> Result<Option<SecretString>, String> {
    let Some(value) = env_value("CAPSULE_MCP_AUTH_TOKEN")? else {
        return Ok(None);
    };
    if value.is_empty() {
        return Err(
            "CAPSULE_MCP_AUTH_TOKEN is set but empty: set it to a long random secret, \
                    or unset it to serve without authentication on a loopback address"
                .into(),
        );
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "CAPSULE_MCP_AUTH_TOKEN must be printable ASCII without spaces or control \
                    characters (it is compared with `Authorization: Bearer <token>`); the value \
                    is not shown"
                .into(),
        );
    }
    Ok(Some(SecretString::from(value)))
}

/// `CAPSULE_ACCESS_TOKEN`: a Capsule personal access token (environment only), when it is
/// set to a usable value (see [`check_capsule_access_token`]).
pub fn capsule_access_token() -> Option<SecretString> {
    access_token().ok().flatten()
}

/// Surrounding whitespace in `CAPSULE_ACCESS_TOKEN` is trimmed; a token with a space, newline
/// or other control character inside can never be sent as a header (every call would fail
/// with an unknown outcome), so it is a start-up error. The message never shows the value.
pub fn check_capsule_access_token() -> Result<(), String> {
    access_token().map(|_| ())
}

fn access_token() -> Result<Option<SecretString>, String> {
    let Some(value) = env_value("CAPSULE_ACCESS_TOKEN")? else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "CAPSULE_ACCESS_TOKEN contains a space, newline or other control or \
                    non-ASCII character, so it cannot be sent to Capsule; copy the token again \
                    (Capsule: My Preferences → API Authentication Tokens). The value is not \
                    shown"
                .into(),
        );
    }
    Ok(Some(SecretString::from(value)))
}

/// The trimmed value of an environment variable; `None` when unset.
fn env_value(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(format!("{name} is not valid UTF-8; the value is not shown"))
        }
    }
}

/// Refuses a Capsule API URL with a user name or password in it (`https://user:pw@…`):
/// reqwest would send it as a second `Authorization: Basic` header next to the token, and
/// start-up errors would echo it. The message never repeats the URL.
pub fn check_api_url(api_url: &str) -> Result<(), String> {
    let has_userinfo = match url::Url::parse(api_url.trim()) {
        Ok(url) => !url.username().is_empty() || url.password().is_some(),
        // Unparsable: look for an `@` in what would be the authority.
        Err(_) => api_url
            .split_once("://")
            .map_or(api_url, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .is_some_and(|authority| authority.contains('@')),
    };
    if has_userinfo {
        return Err(
            "CAPSULE_API_URL (--api-url) must not contain a user name or password \
                    (`user:password@`): Capsule authenticates with CAPSULE_ACCESS_TOKEN or an \
                    OAuth login. The URL is not shown"
                .into(),
        );
    }
    Ok(())
}

impl Common {
    pub fn client_options(&self, api_url: String) -> crate::capsule::ClientOptions {
        crate::capsule::ClientOptions {
            api_url,
            attempt_timeout: Duration::from_secs(self.request_timeout.max(1)),
            call_budget: Duration::from_secs(self.call_budget.max(1)),
            ..Default::default()
        }
    }
}

pub const NO_CREDENTIALS: &str = "no Capsule credentials. Set CAPSULE_ACCESS_TOKEN to a \
personal access token (in Capsule: My Preferences → API Authentication Tokens), run \
`capsule-mcp auth login` with your OAuth application, or add --sandbox to try capsule-mcp on \
the built-in demo Capsule.";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_with_userinfo_are_refused_without_echo() {
        for bad in [
            "https://user:CANARY@api.capsulecrm.com/api/v2",
            "https://CANARY@api.capsulecrm.com",
            "http://u:CANARY@[::1:bad/x",
        ] {
            let e = check_api_url(bad).unwrap_err();
            assert!(!e.contains("CANARY"), "{e}");
        }
        for good in [
            "https://api.capsulecrm.com/api/v2",
            "http://127.0.0.1:9/api/v2/",
            "http://127.0.0.1:9/api/v2?a=b@c",
        ] {
            assert_eq!(check_api_url(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn debug_of_the_command_line_never_shows_the_client_secret() {
        let cli = Cli::try_parse_from([
            "capsule-mcp",
            "auth",
            "login",
            "--client-id",
            "id",
            "--client-secret",
            "CANARY-cli-secret",
        ])
        .unwrap();
        let text = format!("{cli:?}");
        assert!(!text.contains("CANARY"), "{text}");
        assert!(text.contains("client_id"));
    }
}
