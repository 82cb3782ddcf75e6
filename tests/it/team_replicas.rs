//! Two team-server replicas on one Redis, end to end: the real binary twice (`http --oauth
//! --stateless --state-url redis://…`, one state key, one Capsule application, one
//! `--public-url` — A's, as behind one load balancer), one sandbox Capsule, one throwaway
//! `redis-server`. People sign in with the official Python SDK (`tests/clients/py_oauth.py`)
//! through A; tool calls are raw JSON-RPC POSTs with the bearer token to either replica.
//! Every count comes from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use capsule_mcp::{sandbox::Sandbox, team::store::redis_server::RedisServer};
use serde_json::{Value, json};

use super::{
    common::*,
    team::{TeamServer, free_port, serve_team, sign_in_at, signed_in, team_sandbox},
};

/// One `capsule-mcp http --oauth` process.
struct Replica {
    _server: TeamServer,
    /// `http://127.0.0.1:PORT`: where this replica listens (not necessarily the public URL).
    base: String,
}

impl Replica {
    fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }
}

struct Fleet {
    sb: Sandbox,
    redis: RedisServer,
    /// The public URL both replicas serve as: A's.
    public: String,
    a: Replica,
    b: Replica,
}

/// A replica on `port` serving as `public`, its state in `redis`.
async fn replica(sb: &Sandbox, redis: &RedisServer, port: u16, public: &str) -> Replica {
    let state = redis.url(0);
    let server = serve_team(
        sb,
        port,
        public,
        &["--stateless", "--state-url", &state],
        &[],
    )
    .await;
    Replica {
        _server: server,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// The sandbox (choose-a-user page on, A's callback registered), Redis and replicas A and B.
async fn fleet() -> Fleet {
    let redis = redis_server();
    let (port_a, port_b) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{port_a}");
    let sb = team_sandbox(&public).await;
    let a = replica(&sb, &redis, port_a, &public).await;
    let b = replica(&sb, &redis, port_b, &public).await;
    Fleet {
        sb,
        redis,
        public,
        a,
        b,
    }
}

/// Signs demo user `user` in through A with the Python SDK; the MCP tokens it got.
async fn sign_in(f: &Fleet, user: &str) -> Value {
    let report = sign_in_at(&f.a.mcp(), user, &[]).await;
    let report = signed_in(&report);
    assert_eq!(report["me"]["id"], user, "{report:#}");
    report["tokens"].clone()
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A bare JSON-RPC POST to `mcp` with `Bearer token`: the status, the `WWW-Authenticate`
/// header and the JSON-RPC message answered (JSON or one SSE event).
async fn post_mcp(mcp: &str, token: &str, message: Value) -> (u16, Option<String>, Value) {
    let r = reqwest::Client::new()
        .post(mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .body(message.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .find_map(|l| l.strip_prefix("data:"))
            .and_then(|d| serde_json::from_str(d.trim()).ok())
            .unwrap_or_else(|| panic!("no JSON-RPC message in a {status} answer: {text}"))
    });
    (status, challenge, body)
}

/// `tools/call` of `tool` on `mcp` as `token`: the result, or the tool's error as
/// `{"error": …}`.
async fn tool(mcp: &str, token: &str, name: &str, args: Value) -> Result<Value, Value> {
    let (status, _, body) = post_mcp(
        mcp,
        token,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": name, "arguments": args}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert!(result.is_object(), "a JSON-RPC result: {body}");
    if result["isError"] == true {
        let text = result["content"][0]["text"].as_str().unwrap();
        return Err(serde_json::from_str(text).unwrap());
    }
    Ok(result["structuredContent"].clone())
}

/// `crm_get_user {"id":"me"}` on `mcp` as `token`: the Capsule user id it answered as.
async fn me(mcp: &str, token: &str) -> String {
    let user = tool(mcp, token, "crm_get_user", json!({"id": "me"}))
        .await
        .unwrap_or_else(|e| panic!("crm_get_user me failed: {e}"));
    user["id"].as_str().unwrap().to_owned()
}

async fn post_form(base: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
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

/// Refresh grants the sandbox Capsule was asked for and issued.
async fn refresh_grants(sb: &Sandbox) -> (u64, u64) {
    let s = stats(sb).await;
    (
        s["token_requests"]["refresh_token"].as_u64().unwrap_or(0),
        s["grants"]["refresh_token"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_logins_and_refresh_token_rotation() {
    let f = fleet().await;
    let tokens = sign_in(&f, "61").await;
    let token = access(&tokens);

    // The token A issued works on both replicas, as the person who signed in.
    assert_eq!(me(&f.a.mcp(), &token).await, "61");
    assert_eq!(me(&f.b.mcp(), &token).await, "61");
    // B answers as the one public server: its 401 points at the shared metadata.
    let (status, challenge, _) = post_mcp(&f.b.mcp(), "no-such-token", json!({})).await;
    assert_eq!(status, 401);
    let pointer = format!(
        r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
        f.public
    );
    assert!(challenge.unwrap().contains(&pointer));

    // A refresh through B rotates: new tokens that work on A, and A refuses the old refresh
    // token.
    let client_id = tokens["client_id"].as_str().unwrap();
    let old_refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, fresh) = post_form(
        &f.b.base,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{fresh}");
    let new_access = fresh["access_token"].as_str().unwrap();
    let new_refresh = fresh["refresh_token"].as_str().unwrap();
    assert_ne!(new_access, token);
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(me(&f.a.mcp(), new_access).await, "61");
    let (status, body) = post_form(
        &f.a.base,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // The rotated one still works, once, on A.
    let (status, body) = post_form(
        &f.a.base,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", new_refresh),
            ("client_id", client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // None of this touched the person's Capsule login.
    assert_eq!(refresh_grants(&f.sb).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_calls_across_both_replicas_over_an_expiry_make_one_refresh_grant() {
    let f = fleet().await;
    // Capsule access tokens live 2 s while Ted signs in (and his sign-in call refreshes one,
    // as any token that close to expiry is), then wait until the one stored has expired.
    admin(&f.sb, "config", json!({"access_token_ttl_seconds": 2})).await;
    let token = access(&sign_in(&f, "61").await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Capsule's own lifetime again for the token the refresh brings.
    admin(
        &f.sb,
        "config",
        json!({"access_token_ttl_seconds": 604_800}),
    )
    .await;
    let before = refresh_grants(&f.sb).await;

    let calls: Vec<_> = (0..50)
        .map(|i| {
            let mcp = if i % 2 == 0 { f.a.mcp() } else { f.b.mcp() };
            let token = token.clone();
            tokio::spawn(async move { me(&mcp, &token).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), "61");
    }
    let after = refresh_grants(&f.sb).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "one refresh grant asked for and issued at Capsule for 50 calls on two replicas"
    );
    // The new Capsule token is in the shared store: more calls on either refresh nothing.
    assert_eq!(me(&f.b.mcp(), &token).await, "61");
    assert_eq!(me(&f.a.mcp(), &token).await, "61");
    assert_eq!(refresh_grants(&f.sb).await, after);
}

fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Polls `what` every 20 ms until it gives `Some`, for at most 3 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_met_on_one_replica_holds_the_other_back_until_the_reset_for_that_user_only() {
    let f = fleet().await;
    let (ted, scott) = tokio::join!(sign_in(&f, "61"), sign_in(&f, "6"));
    let (ted, scott) = (access(&ted), access(&scott));
    let route = "GET /users/current";
    let base = requests(&f.sb, route).await;
    let store = capsule_mcp::team::store::open(Some(&f.redis.url(0)))
        .await
        .unwrap();
    // Capsule says Ted's window is spent for up to 4 s (the reset is a whole epoch second).
    admin(
        &f.sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 4}),
    )
    .await;

    // A meets the 429. With the default 60 s call budget it waits for the reset.
    let through_a = tokio::spawn({
        let (mcp, ted) = (f.a.mcp(), ted.clone());
        async move { (me(&mcp, &ted).await, epoch_ms()) }
    });
    eventually("A's request", || async {
        (requests(&f.sb, route).await == base + 1).then_some(())
    })
    .await;
    // The hold A learnt is in Redis, under Ted's Capsule user.
    let held_until: i64 = eventually("the shared hold", || async {
        let v = store.get("rate:hold:61").await.unwrap()?;
        std::str::from_utf8(&v).ok()?.parse().ok()
    })
    .await;
    assert!(
        held_until >= epoch_ms() + 2_000,
        "the hold is the reset, {} ms away",
        held_until - epoch_ms()
    );

    // B never talked to Capsule for Ted, yet its call for him waits out the hold too.
    let through_b = tokio::spawn({
        let (mcp, ted) = (f.b.mcp(), ted.clone());
        async move { (me(&mcp, &ted).await, epoch_ms()) }
    });
    // Scott is another Capsule user: B answers him at once.
    assert_eq!(me(&f.b.mcp(), &scott).await, "6");
    assert!(epoch_ms() < held_until, "Scott was not held");
    assert_eq!(requests(&f.sb, route).await, base + 2);
    // Until the reset, nothing more for Ted from either replica.
    let quiet = (held_until - 700 - epoch_ms()).max(0);
    tokio::time::sleep(Duration::from_millis(u64::try_from(quiet).unwrap())).await;
    assert!(!through_a.is_finished() && !through_b.is_finished());
    assert_eq!(
        requests(&f.sb, route).await,
        base + 2,
        "A and B sent nothing for Ted inside the hold"
    );

    // After the reset both calls succeed as Ted, with one request each.
    let (a, b) = (through_a.await.unwrap(), through_b.await.unwrap());
    assert_eq!((a.0.as_str(), b.0.as_str()), ("61", "61"));
    assert!(a.1 >= held_until && b.1 >= held_until, "both waited");
    assert_eq!(requests(&f.sb, route).await, base + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_another_public_url_on_the_same_redis_refuses_the_token_with_401() {
    let f = fleet().await;
    let port_c = free_port();
    let public_c = format!("http://127.0.0.1:{port_c}");
    let c = replica(&f.sb, &f.redis, port_c, &public_c).await;
    let token = access(&sign_in(&f, "61").await);
    // C reads the same store and finds the token, but it was issued for A's /mcp.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "crm_get_user", "arguments": {"id": "me"}}});
    let before = total_requests(&f.sb).await;
    let (status, challenge, body) = post_mcp(&c.mcp(), &token, call).await;
    assert_eq!(status, 401, "{body}");
    let challenge = challenge.expect("a WWW-Authenticate challenge");
    assert!(
        challenge.starts_with(&format!(
            r#"Bearer resource_metadata="{public_c}/.well-known/oauth-protected-resource/mcp""#
        )),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("issued for another server"),
        "{body}"
    );
    assert_eq!(
        total_requests(&f.sb).await,
        before,
        "nothing reached Capsule"
    );
    // The pointer leads to C's own metadata, naming C's /mcp.
    let prm: Value = reqwest::get(format!(
        "{public_c}/.well-known/oauth-protected-resource/mcp"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(prm["resource"], c.mcp());
    assert_eq!(prm["authorization_servers"], json!([public_c]));
    // The same token is good where it was issued for.
    assert_eq!(me(&f.b.mcp(), &token).await, "61");
}
