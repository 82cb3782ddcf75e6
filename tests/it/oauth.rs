//! OAuth end to end against the sandbox: `auth login --no-browser` followed like a browser
//! would, tool calls with the stored token, refresh once per expiry across 50 concurrent calls,
//! a failing refresh, a revoked token, a world-readable file, and a canary for leaked secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, process::Stdio, time::Duration};

use capsule_mcp::sandbox::Sandbox;
use rmcp::{ServiceExt, transport::TokioChildProcess};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::common::*;

const CLIENT_SECRET: &str = "CANARY-client-secret-7f3a9c";

/// The binary against `sb` with OAuth settings and no personal token.
fn oauth_command(sb: &Sandbox, dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAPSULE_API_URL", sb.api_url())
        .env("CAPSULE_CLIENT_ID", "capsule-mcp-tests")
        .env("CAPSULE_CLIENT_SECRET", CLIENT_SECRET)
        .env("CAPSULE_MCP_CONFIG_DIR", dir)
        // Never touch a developer's real keyring: these tests check the file store.
        .env("CAPSULE_MCP_CREDENTIAL_STORE", "file")
        .env("RUST_LOG", "debug")
        .kill_on_drop(true);
    cmd
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs `auth login --no-browser` and plays the browser: follows the printed URL (the sandbox
/// approves at once) to the redirect listener.
async fn login(sb: &Sandbox, dir: &Path) -> Output {
    let mut child = oauth_command(sb, dir, &["auth", "login", "--no-browser", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut url))
        .await
        .expect("login prints the URL")
        .unwrap();
    let url = url.trim().to_owned();
    assert!(
        url.starts_with(&format!("{}/oauth/authorise?", sb.base_url())),
        "{url}"
    );
    assert!(
        url.contains("state=") && url.contains("code_challenge="),
        "{url}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approve = browser.get(&url).send().await.unwrap();
    assert_eq!(approve.status(), 302);
    let callback = approve.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let page = browser.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "login failed: {stderr}");
    Output {
        stdout: format!("{url}\n{rest}"),
        stderr,
    }
}

fn stored(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("credentials.json")).unwrap()).unwrap()
}

async fn run(sb: &Sandbox, dir: &Path, args: &[&str]) -> (bool, Output) {
    let out = oauth_command(sb, dir, args).output().await.unwrap();
    (
        out.status.success(),
        Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
    )
}

async fn oauth_stdio_client(sb: &Sandbox, dir: &Path) -> Client {
    let (transport, _) = TokioChildProcess::builder(oauth_command(sb, dir, &["stdio"]))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ().serve(transport).await.unwrap()
}

fn grants(stats: &Value, kind: &str) -> u64 {
    stats["grants"][kind].as_u64().unwrap_or(0)
}

async fn revoke_at_sandbox(sb: &Sandbox, token: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/oauth/token/revoke", sb.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

#[tokio::test]
async fn login_stores_private_tokens_that_serve_tool_calls() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("capsule-mcp");
    login(&sb, &cfg).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cfg.join("credentials.json")), 0o600);
        assert_eq!(mode(&cfg), 0o700);
    }
    assert_eq!(grants(&stats(&sb).await, "authorization_code"), 1);
    let (ok, out) = run(&sb, &cfg, &["call", "crm_list_contacts", r#"{"limit": 1}"#]).await;
    assert!(ok, "{}", out.stderr);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["result_count"],
        1
    );

    let (ok, out) = run(&sb, &cfg, &["auth", "status"]).await;
    assert!(ok);
    assert!(
        out.stdout.contains("Ted Danson") && out.stdout.contains("scopes"),
        "{}",
        out.stdout
    );
    let token = stored(&cfg)["access_token"].as_str().unwrap().to_owned();
    assert!(!out.stdout.contains(&token));

    // A personal token in the environment wins, and status says so.
    let out = oauth_command(&sb, &cfg, &["auth", "status"])
        .env("CAPSULE_ACCESS_TOKEN", "sandbox-user")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CAPSULE_ACCESS_TOKEN") && text.contains("Scott Spacey"),
        "{text}"
    );

    let (ok, out) = run(&sb, &cfg, &["auth", "logout"]).await;
    assert!(ok, "{}", out.stderr);
    assert!(!cfg.join("credentials.json").exists());
    let probe = reqwest::Client::new()
        .get(format!("{}/parties", sb.api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 401, "logout revoked the access token");
    let (ok, out) = run(&sb, &cfg, &["auth", "status"]).await;
    assert!(!ok && out.stdout.contains("Not logged in"));
}

#[tokio::test]
async fn fifty_concurrent_calls_across_an_expiry_refresh_once() {
    let sb = sandbox().await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3})).await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    let first_refresh = stored(dir.path())["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = oauth_stdio_client(&sb, dir.path()).await;
    ok(&client, "crm_list_contacts", json!({"limit": 1})).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // The refreshed token lives long, so a slow machine cannot cause a second expiry.
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3600})).await;
    let before = grants(&stats(&sb).await, "refresh_token");
    let mut calls = Vec::new();
    for i in 0..50 {
        let peer = client.peer().clone();
        calls.push(tokio::spawn(async move {
            let tool = if i % 2 == 0 {
                "crm_list_contacts"
            } else {
                "crm_list_accounts"
            };
            ok(&peer, tool, json!({"limit": 1})).await
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap()["result_count"], 1);
    }
    assert_eq!(
        grants(&stats(&sb).await, "refresh_token"),
        before + 1,
        "exactly one refresh for 50 calls across the expiry"
    );
    let rotated = stored(dir.path())["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        rotated, first_refresh,
        "the rotated refresh token was stored"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_failing_refresh_says_log_in_again_and_keeps_the_file() {
    let sb = sandbox().await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 2})).await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    let creds = stored(dir.path());
    revoke_at_sandbox(&sb, creds["refresh_token"].as_str().unwrap()).await;
    let before = std::fs::read(dir.path().join("credentials.json")).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let client = oauth_stdio_client(&sb, dir.path()).await;
    for _ in 0..2 {
        let e = err(&client, "crm_list_contacts", json!({"limit": 1})).await;
        assert_eq!(e["code"], "unauthorized");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("capsule-mcp auth login"),
            "{e}"
        );
    }
    let after = std::fs::read(dir.path().join("credentials.json")).unwrap();
    assert_eq!(before, after, "the stored file is left intact");
    assert_eq!(grants(&stats(&sb).await, "refresh_token"), 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_revoked_access_token_is_refreshed_on_401() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    revoke_at_sandbox(&sb, stored(dir.path())["access_token"].as_str().unwrap()).await;
    let client = oauth_stdio_client(&sb, dir.path()).await;
    let page = ok(&client, "crm_list_contacts", json!({"limit": 2})).await;
    assert_eq!(page["result_count"], 2);
    assert_eq!(grants(&stats(&sb).await, "refresh_token"), 1);
    client.cancel().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_world_readable_token_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    let file = dir.path().join("credentials.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = run(&sb, dir.path(), &["call", "crm_list_contacts"]).await;
    assert!(!ok);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
}

#[tokio::test]
async fn no_secret_reaches_output_logs_or_tool_results() {
    let sb = sandbox().await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 2})).await;
    let dir = tempfile::tempdir().unwrap();
    let mut seen = String::new();
    let out = login(&sb, dir.path()).await;
    seen += &out.stdout;
    seen += &out.stderr;
    let mut secrets = vec![CLIENT_SECRET.to_owned()];
    let creds = stored(dir.path());
    secrets.push(creds["access_token"].as_str().unwrap().to_owned());
    secrets.push(creds["refresh_token"].as_str().unwrap().to_owned());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3600})).await;
    // A refresh happens inside this call; its logs are read too.
    for args in [
        vec![
            "call",
            "crm_list_contacts",
            r#"{"limit": 3, "include_remote_data": true}"#,
        ],
        vec![
            "call",
            "capsule_api_request",
            r#"{"method": "GET", "path": "/users/current"}"#,
        ],
        vec!["call", "crm_get_contact", r#"{"id": "999999"}"#],
        vec!["auth", "status"],
    ] {
        let (_, out) = run(&sb, dir.path(), &args).await;
        seen += &out.stdout;
        seen += &out.stderr;
    }
    let creds = stored(dir.path());
    secrets.push(creds["access_token"].as_str().unwrap().to_owned());
    secrets.push(creds["refresh_token"].as_str().unwrap().to_owned());
    let (_, out) = run(&sb, dir.path(), &["auth", "logout"]).await;
    seen += &out.stdout;
    seen += &out.stderr;
    assert_eq!(
        grants(&stats(&sb).await, "refresh_token"),
        1,
        "the scenario refreshed"
    );
    assert!(seen.len() > 1000, "the scenario produced output to check");
    for s in &secrets {
        assert!(
            !seen.contains(s.as_str()),
            "a secret leaked into output or logs"
        );
    }
}

#[tokio::test]
async fn two_servers_sharing_the_token_file_refresh_once() {
    let sb = sandbox().await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3})).await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    let a = oauth_stdio_client(&sb, dir.path()).await;
    let b = oauth_stdio_client(&sb, dir.path()).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3600})).await;
    let before = grants(&stats(&sb).await, "refresh_token");
    let mut calls = Vec::new();
    for i in 0..10 {
        let peer = if i % 2 == 0 {
            a.peer().clone()
        } else {
            b.peer().clone()
        };
        calls.push(tokio::spawn(async move {
            ok(&peer, "crm_list_contacts", json!({"limit": 1})).await
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap()["result_count"], 1);
    }
    assert_eq!(
        grants(&stats(&sb).await, "refresh_token"),
        before + 1,
        "the file lock let one refresh"
    );
    a.cancel().await.unwrap();
    b.cancel().await.unwrap();
}

#[tokio::test]
async fn a_server_with_a_stale_login_adopts_the_one_another_process_rotated() {
    let sb = sandbox().await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 2})).await;
    let dir = tempfile::tempdir().unwrap();
    login(&sb, dir.path()).await;
    // B loads the first login and keeps it in memory.
    let b = oauth_stdio_client(&sb, dir.path()).await;
    ok(&b, "crm_list_contacts", json!({"limit": 1})).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // A refreshes (the refresh token rotates); then A's new token expires too.
    let (done, out) = run(
        &sb,
        dir.path(),
        &["call", "crm_list_contacts", r#"{"limit": 1}"#],
    )
    .await;
    assert!(done, "{}", out.stderr);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    admin(&sb, "config", json!({"access_token_ttl_seconds": 3600})).await;
    // B must refresh with the rotated refresh token from the file, not its stale one.
    let page = ok(&b, "crm_list_contacts", json!({"limit": 1})).await;
    assert_eq!(page["result_count"], 1);
    // A refreshed at least once, and B once more with A's rotated token (a slow machine can
    // make A's 2-second token need a second refresh of its own).
    assert!(grants(&stats(&sb).await, "refresh_token") >= 2);
    b.cancel().await.unwrap();
}

#[tokio::test]
async fn stray_requests_neither_hang_nor_end_a_login() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = oauth_command(
        &sb,
        dir.path(),
        &["auth", "login", "--no-browser", "--port", "0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).await.unwrap();
    let url = url.trim().to_owned();
    let redirect = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    // A connection that never speaks, a guess with the wrong state, an error without it.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = plain
        .get(format!("{redirect}?state=guess&code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = plain
        .get(format!("{redirect}?error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The real browser still completes the login.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let approve = browser.get(&url).send().await.unwrap();
    let callback = approve.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("credentials.json").exists());
}
