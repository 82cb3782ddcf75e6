//! The team server (`http --oauth`) end to end: the real binary against the sandbox Capsule
//! (choose-a-user page on, the server's callback registered), signed in to by the official
//! Python SDK's OAuth client (`tests/clients/py_oauth.py`), whose redirect handler plays the
//! browser through the consent page and the sandbox's authorise page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use capsule_mcp::sandbox::{Sandbox, SandboxOptions};
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{common::*, real_clients};

const CLIENT_SECRET: &str = "CANARY-team-capsule-app-secret-51c2";
/// 32 bytes of 7, base64.
const STATE_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

pub(super) struct Team {
    pub(super) sb: Sandbox,
    _server: TeamServer,
    /// `http://127.0.0.1:PORT`
    pub(super) public: String,
    /// Everything the server wrote to stderr so far.
    pub(super) logs: Arc<Mutex<String>>,
}

impl Team {
    pub(super) fn mcp(&self) -> String {
        format!("{}/mcp", self.public)
    }
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sandbox and `capsule-mcp http --oauth` in front of it, with `env` added.
pub(super) async fn team(env: &[(&str, &str)]) -> Team {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let sb = team_sandbox(&public).await;
    let server = serve_team(&sb, port, &public, &[], env).await;
    Team {
        sb,
        logs: server.logs.clone(),
        _server: server,
        public,
    }
}

/// The sandbox as a team server's Capsule: the choose-a-user page on, and only the callback of
/// a server at `public` registered.
pub(super) async fn team_sandbox(public: &str) -> Sandbox {
    Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions {
            choose_user: true,
            redirect_uris: vec![format!("{public}/oauth/callback")],
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A running `capsule-mcp http --oauth`: killed, and its config directory removed, on drop.
pub(super) struct TeamServer {
    _child: tokio::process::Child,
    /// Everything the server wrote to stderr so far.
    pub logs: Arc<Mutex<String>>,
    /// Its own `CAPSULE_MCP_CONFIG_DIR`: without `--state-url` the state file lives there,
    /// and one file serves one process (tests run at once).
    _config: tempfile::TempDir,
}

/// `capsule-mcp http --oauth` on `127.0.0.1:port` against `sb` as `public`, with `args` and
/// `env` added, once it listens.
pub(super) async fn serve_team(
    sb: &Sandbox,
    port: u16,
    public: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> TeamServer {
    let config = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["http", "--oauth", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", public])
        // The Python SDK reuses pooled keep-alive connections and does not retry a POST the
        // server closed as idle; on a loaded CI machine its OAuth steps can be 10 s apart (a
        // sign-in failed once with "Server disconnected without sending a response").
        .args(["--header-read-timeout", "60"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAPSULE_API_URL", sb.api_url())
        .env("CAPSULE_CLIENT_ID", "capsule-mcp-team-tests")
        .env("CAPSULE_CLIENT_SECRET", CLIENT_SECRET)
        .env("CAPSULE_MCP_STATE_KEY", STATE_KEY)
        .env("CAPSULE_MCP_CONFIG_DIR", config.path())
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let logs = Arc::new(Mutex::new(String::new()));
    let sink = logs.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("capsule-mcp listening on ");
            *sink.lock().unwrap() += &format!("{line}\n");
            if done {
                return;
            }
        }
        panic!(
            "capsule-mcp http --oauth exited before listening:\n{}",
            sink.lock().unwrap()
        );
    })
    .await
    .expect("the team server announces its address");
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            *sink.lock().unwrap() += &format!("{line}\n");
        }
    });
    TeamServer {
        _child: child,
        logs,
        _config: config,
    }
}

/// The test clients' Python (set up by `tests/clients/setup` first).
pub(super) fn venv_python() -> std::path::PathBuf {
    real_clients::setup();
    std::env::var_os("CAPSULE_CLIENTS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients-venv")
        })
        .join("bin/python")
}

/// One person signs in with the Python SDK as demo user `user`; the driver's report.
pub(super) async fn sign_in(t: &Team, user: &str, extra: &[&str]) -> Value {
    sign_in_at(&t.mcp(), user, extra).await
}

/// One person signs in with the Python SDK at the MCP endpoint `mcp` as demo user `user`.
pub(super) async fn sign_in_at(mcp: &str, user: &str, extra: &[&str]) -> Value {
    let python = venv_python();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&python)
            .current_dir(real_clients::clients_dir())
            .args(["py_oauth.py", "--url", mcp, "--user", user])
            .args(extra)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Python sign-in hung")
    .unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}; run tests/clients/setup",
            python.display()
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("OAUTH-REPORT "))
        .unwrap_or_else(|| {
            panic!(
                "py_oauth.py gave no report ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(report).unwrap()
}

pub(super) fn signed_in(report: &Value) -> &Value {
    assert!(
        report.get("error").is_none(),
        "the sign-in failed: {report:#}"
    );
    report
}

/// An rmcp client presenting `token`.
pub(super) async fn client_with(t: &Team, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(t.mcp()).auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP initialize with an OAuth token")
}

/// A bare `initialize` POST to `/mcp` with `authorization`.
async fn raw_initialize(t: &Team, authorization: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(t.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"}}})
            .to_string(),
        );
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap()
}

fn assert_challenge(t: &Team, r: &reqwest::Response, invalid_token: bool) {
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    let pointer = format!(
        r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
        t.public
    );
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&pointer), "{challenge}");
    assert_eq!(
        challenge.contains(r#"error="invalid_token""#),
        invalid_token,
        "{challenge}"
    );
}

pub(super) async fn post_form(t: &Team, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", t.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn grants(stats: &Value, kind: &str) -> u64 {
    stats["grants"][kind].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn two_people_sign_in_with_the_python_sdk_and_each_acts_as_themselves() {
    let t = team(&[]).await;
    let ted = sign_in(&t, "61", &[]).await;
    let maia = sign_in(&t, "12", &["--auth-method", "client_secret_basic"]).await;
    assert_eq!(signed_in(&ted)["me"]["id"], "61", "{ted:#}");
    assert_eq!(ted["me"]["name"], "Ted Danson");
    assert_eq!(signed_in(&maia)["me"]["id"], "12", "{maia:#}");
    assert_eq!(maia["me"]["name"], "Maia Hilton");
    assert!(maia["tokens"]["client_secret"].is_string());
    assert_eq!(grants(&stats(&t.sb).await, "authorization_code"), 2);

    // The browser saw the consent page naming the client, unframeable and uncached, and the
    // client got the code back with state and iss.
    let steps = ted["steps"].as_array().unwrap();
    let consent = &steps[0];
    assert_eq!(consent["what"], "consent");
    assert_eq!(consent["status"], 200);
    assert_eq!(consent["client_named"], true);
    assert_eq!(consent["x_frame_options"], "DENY");
    assert!(
        consent["csp"]
            .as_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(consent["cache_control"], "no-store");
    let final_step = steps.last().unwrap();
    assert_eq!(final_step["location_host"], "127.0.0.1:47123");
    assert_eq!(final_step["query_keys"], json!(["code", "iss", "state"]));

    // Each token answers only ever as its own person, interleaved.
    let ted_token = ted["tokens"]["access_token"].as_str().unwrap();
    let maia_token = maia["tokens"]["access_token"].as_str().unwrap();
    assert_ne!(ted_token, maia_token);
    let as_ted = client_with(&t, ted_token).await;
    let as_maia = client_with(&t, maia_token).await;
    for _ in 0..2 {
        assert_eq!(
            ok(&as_ted, "crm_get_user", json!({"id": "me"})).await["id"],
            "61"
        );
        assert_eq!(
            ok(&as_maia, "crm_get_user", json!({"id": "me"})).await["id"],
            "12"
        );
    }
    let raw = ok(
        &as_maia,
        "capsule_api_request",
        json!({"method": "GET", "path": "/users/current"}),
    )
    .await;
    assert!(raw.to_string().contains("maiahilton"), "{raw}");
    // A refresh token is not an access token, and one person's refresh token does not work
    // for the other's client.
    let r = raw_initialize(
        &t,
        Some(&format!(
            "Bearer {}",
            ted["tokens"]["refresh_token"].as_str().unwrap()
        )),
    )
    .await;
    assert_challenge(&t, &r, true);
    let (status, body) = post_form(
        &t,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                ted["tokens"]["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", maia["tokens"]["client_id"].as_str().unwrap()),
            (
                "client_secret",
                maia["tokens"]["client_secret"].as_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    as_ted.cancel().await.unwrap();
    as_maia.cancel().await.unwrap();
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_get_401_with_the_metadata_pointer() {
    let t = team(&[("CAPSULE_MCP_OAUTH_ACCESS_TTL", "2")]).await;
    assert_challenge(&t, &raw_initialize(&t, None).await, false);
    let r = raw_initialize(&t, Some("Bearer no-such-token")).await;
    assert_challenge(&t, &r, true);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in")
    );
    assert_challenge(&t, &raw_initialize(&t, Some("Basic eDp5")).await, true);

    // The metadata the pointer names leads to the authorization server.
    let prm: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        t.public
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(prm["resource"], t.mcp());
    assert_eq!(prm["authorization_servers"], json!([t.public]));
    let asm: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        t.public
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(asm["issuer"], t.public);
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));

    let ted = sign_in(&t, "61", &[]).await;
    let token = signed_in(&ted)["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        raw_initialize(&t, Some(&format!("Bearer {token}")))
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = raw_initialize(&t, Some(&format!("Bearer {token}"))).await;
    assert_challenge(&t, &r, true);
}

#[tokio::test]
async fn a_refresh_through_the_sdk_rotates_and_the_old_refresh_token_is_refused() {
    // Long enough for the sign-in and first call on a loaded CI machine, short enough to wait.
    let t = team(&[("CAPSULE_MCP_OAUTH_ACCESS_TTL", "5")]).await;
    let r = sign_in(&t, "6", &["--refresh-after", "6"]).await;
    let r = signed_in(&r);
    assert_eq!(r["me"]["id"], "6");
    assert_eq!(r["me_after_refresh"]["id"], "6", "{r:#}");
    let (before, after) = (&r["tokens"], &r["tokens_after_refresh"]);
    assert_ne!(before["access_token"], after["access_token"]);
    assert_ne!(before["refresh_token"], after["refresh_token"]);
    let client_id = before["client_id"].as_str().unwrap();
    // The rotated refresh token is refused on reuse.
    let (status, body) = post_form(
        &t,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", before["refresh_token"].as_str().unwrap()),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // The current one works once more, then it too is spent.
    let current = after["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", current),
        ("client_id", client_id),
    ];
    let (status, fresh) = post_form(&t, "/token", &refresh).await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(fresh["token_type"], "Bearer");
    let (status, _) = post_form(&t, "/token", &refresh).await;
    assert_eq!(status, 400);

    // Revocation: the access token stops working at once; unknown tokens are still 200.
    let access = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        raw_initialize(&t, Some(&format!("Bearer {access}")))
            .await
            .status(),
        200
    );
    let (status, _) = post_form(
        &t,
        "/revoke",
        &[("token", access), ("client_id", client_id)],
    )
    .await;
    assert_eq!(status, 200);
    assert_challenge(
        &t,
        &raw_initialize(&t, Some(&format!("Bearer {access}"))).await,
        true,
    );
    let (status, _) = post_form(
        &t,
        "/revoke",
        &[("token", "never-issued"), ("client_id", client_id)],
    )
    .await;
    assert_eq!(status, 200);
    // The person's Capsule login was never refreshed by any of this: MCP tokens are the
    // server's own.
    assert_eq!(grants(&stats(&t.sb).await, "refresh_token"), 0);
}

#[tokio::test]
async fn declined_consent_issues_nothing() {
    let t = team(&[]).await;
    let r = sign_in(&t, "61", &["--decision", "deny"]).await;
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("access_denied"), "{r:#}");
    let decision = &r["steps"][1];
    assert_eq!(decision["what"], "decision");
    assert_eq!(decision["status"], 302);
    let location = url::Url::parse(decision["location"].as_str().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("127.0.0.1"));
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["error"], "access_denied");
    assert!(q.contains_key("state") && !q.contains_key("code"));
    assert!(r["tokens"]["access_token"].is_null());
    // Nobody went to Capsule, nothing was granted there.
    assert_eq!(grants(&stats(&t.sb).await, "authorization_code"), 0);
    assert_eq!(requests(&t.sb, "GET /users/current").await, 0);
}

#[tokio::test]
async fn unregistered_redirect_uris_are_refused_without_a_redirect() {
    let t = team(&[]).await;
    // The SDK cannot even register a non-loopback http redirect.
    let r = sign_in(&t, "61", &["--redirect-uri", "http://evil.example/cb"]).await;
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("invalid_redirect_uri"), "{r:#}");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reg: Value = http
        .post(format!("{}/register", t.public))
        .json(
            &json!({"redirect_uris": ["http://127.0.0.1:5000/cb"], "client_name": "probe",
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap();
    assert!(reg.get("client_secret").is_none());
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = |redirect: &str, extra: &[(&str, &str)]| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("state", "s1"),
        ]);
        q.extend_pairs(extra);
        format!("{}/authorize?{}", t.public, q.finish())
    };
    let pkce = [
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1:5000/cb/other",
        "http://localhost:5000/cb",
    ] {
        let r = http.get(authorize(bad, &pkce)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad}");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("not one this MCP client registered")
        );
    }
    let r = http
        .get(format!(
            "{}/authorize?client_id=nobody&response_type=code",
            t.public
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // A loopback redirect on another port is the registered one (RFC 8252 §7.3).
    let r = http
        .get(authorize("http://127.0.0.1:6001/cb", &pkce))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("probe"));
    // Without PKCE S256 the client is told so at its redirect URI.
    for extra in [
        vec![],
        vec![
            ("code_challenge", challenge),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let r = http
            .get(authorize("http://127.0.0.1:5000/cb", &extra))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(
            loc.starts_with("http://127.0.0.1:5000/cb?error=invalid_request"),
            "{loc}"
        );
        assert!(loc.contains("state=s1"), "{loc}");
    }
    // A resource other than this server's /mcp is refused.
    let mut wrong = pkce.to_vec();
    wrong.push(("resource", "https://other.example/mcp"));
    let r = http
        .get(authorize("http://127.0.0.1:5000/cb", &wrong))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_target")
    );
    // The sandbox Capsule refuses a redirect URI its application did not register.
    let r = http
        .get(format!(
            "{}/oauth/authorise?response_type=code&client_id=capsule-mcp-team-tests&redirect_uri=https%3A%2F%2Fevil.example%2Foauth%2Fcallback",
            t.sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
}

/// A run of at least 40 lowercase letters and digits: the shape of a sandbox Capsule token.
fn has_capsule_token_shape(text: &str) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            run += 1;
            if run >= 40 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[tokio::test]
async fn no_secret_reaches_the_team_servers_logs_or_tool_output() {
    // MCP tokens live 6 s (Ted's client refreshes one), Capsule's 2 s (the server refreshes
    // those at Capsule).
    let t = team(&[("CAPSULE_MCP_OAUTH_ACCESS_TTL", "6")]).await;
    admin(&t.sb, "config", json!({"access_token_ttl_seconds": 2})).await;
    let a = sign_in(&t, "61", &["--refresh-after", "6.5"]).await;
    let b = sign_in(&t, "6", &["--auth-method", "client_secret_post"]).await;
    let (a, b) = (signed_in(&a), signed_in(&b));
    // Scott's Capsule token expires during this wait: the calls refresh it at Capsule.
    let client = client_with(&t, b["tokens"]["access_token"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut output = String::new();
    for (tool, args) in [
        ("crm_get_user", json!({"id": "me"})),
        (
            "capsule_api_request",
            json!({"method": "GET", "path": "/users/current"}),
        ),
        (
            "crm_list_contacts",
            json!({"limit": 2, "include_remote_data": true}),
        ),
        ("crm_get_contact", json!({"id": "999999"})),
    ] {
        output += &format!("{:?}", call(&client, tool, args).await);
    }
    client.cancel().await.unwrap();
    output += &a["me"].to_string();
    output += &a["me_after_refresh"].to_string();
    output += &b["me"].to_string();
    assert!(
        grants(&stats(&t.sb).await, "refresh_token") >= 1,
        "a Capsule refresh happened"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = t.logs.lock().unwrap().clone();
    assert!(
        logs.contains("linked a Capsule account"),
        "debug logs were read"
    );
    let seen = format!("{logs}\n{output}");
    let mut secrets = vec![CLIENT_SECRET.to_owned(), STATE_KEY.to_owned()];
    for r in [a, b] {
        for tokens in [&r["tokens"], &r["tokens_after_refresh"]] {
            for k in ["access_token", "refresh_token", "client_secret"] {
                if let Some(s) = tokens[k].as_str() {
                    secrets.push(s.to_owned());
                }
            }
        }
    }
    assert!(secrets.len() >= 8, "{secrets:?}");
    for s in &secrets {
        assert!(
            !seen.contains(s.as_str()),
            "a secret leaked into logs or tool output"
        );
    }
    assert!(has_capsule_token_shape(
        "x 0123456789abcdefghijklmnopqrstuvwxyz0123 y"
    ));
    assert!(
        !has_capsule_token_shape(&seen),
        "something shaped like a Capsule token is in the logs or tool output"
    );
}

#[tokio::test]
async fn the_team_server_refuses_to_start_without_what_it_needs() {
    let base: &[(&str, &str)] = &[
        ("CAPSULE_CLIENT_ID", "app"),
        ("CAPSULE_CLIENT_SECRET", CLIENT_SECRET),
        ("CAPSULE_MCP_STATE_KEY", STATE_KEY),
    ];
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&[], &["CAPSULE_MCP_STATE_KEY"], "CAPSULE_MCP_STATE_KEY"),
        (&[], &["CAPSULE_CLIENT_ID"], "CAPSULE_CLIENT_ID"),
        (&[], &["CAPSULE_CLIENT_SECRET"], "CAPSULE_CLIENT_SECRET"),
        (
            &["--public-url", "http://mcp.example.com"],
            &[],
            "must use https",
        ),
        (
            &["--public-url", "https://mcp.example.com/x"],
            &[],
            "bare origin",
        ),
    ];
    let run = |extra: &'static [&'static str],
               unset: &'static [&'static str],
               env: Vec<(&'static str, &'static str)>| async move {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["http", "--oauth", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CAPSULE_API_URL", "http://127.0.0.1:9/api/v2");
        if !extra.contains(&"--public-url") {
            cmd.args(["--public-url", "https://mcp.example.com"]);
        }
        cmd.args(extra);
        for (k, v) in env {
            if !unset.contains(&k) {
                cmd.env(k, v);
            }
        }
        let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (extra, unset, says) in cases.iter().copied() {
        let (code, stderr) = run(extra, unset, base.to_vec()).await;
        assert_eq!(code, Some(2), "{extra:?} {unset:?}: {stderr}");
        assert!(stderr.contains(says), "{extra:?} {unset:?}: {stderr}");
        assert!(!stderr.contains(CLIENT_SECRET) && !stderr.contains(STATE_KEY));
    }
    let mut with_token = base.to_vec();
    with_token.push(("CAPSULE_MCP_AUTH_TOKEN", "CANARY-static-token-1234567890"));
    let (code, stderr) = run(&[], &[], with_token).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unset CAPSULE_MCP_AUTH_TOKEN"), "{stderr}");
    assert!(!stderr.contains("CANARY"));
}
