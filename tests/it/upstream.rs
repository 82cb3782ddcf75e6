//! Faults the sandbox cannot play, from a small misbehaving HTTP upstream in front of it: one
//! that forwards a write to the sandbox and then answers 502, stalls or hangs up; one that
//! sends `Retry-After`, HTML instead of JSON, relative `Link`s or ignores `perPage`.
//!
//! The upstream is a hand-written HTTP/1.1 server on 127.0.0.1:0 (one request a connection),
//! so it can close a connection without answering. Request counts come from the sandbox's
//! stats or from the upstream's own log, never from the client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use capsule_mcp::sandbox::Sandbox;
use rmcp::{ServiceExt, transport::TokioChildProcess};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::common::*;

/// What the upstream does with a request that matches a [`Rule`].
#[derive(Debug, Clone)]
pub enum Act {
    /// Answer this without forwarding anything to the sandbox.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Forward to the sandbox (which applies it), then answer this status instead.
    ForwardThenStatus(u16),
    /// Forward, then wait this long before passing the sandbox's answer on.
    ForwardThenDelay(Duration),
    /// Forward, then close the connection without answering.
    ForwardThenHangUp,
    /// Forward, then pass the status on with this body; `Location` kept when `keep_location`.
    ForwardThenBody { body: String, keep_location: bool },
    /// Forward and add a header to the answer.
    ForwardAddHeader(String, String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// `"METHOD /path"` prefix, e.g. `"PUT /api/v2/parties/"`.
    pub route: String,
    pub times: u32,
    pub act: Act,
}

pub fn rule(route: &str, times: u32, act: Act) -> Rule {
    Rule {
        route: route.to_owned(),
        times,
        act,
    }
}

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub at: Instant,
    pub bearer: bool,
}

struct State {
    sandbox: String,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    http: reqwest::Client,
}

pub struct Upstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start(sb: &Sandbox) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            sandbox: sb.base_url(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(state.clone(), stream));
                }
            }
        });
        Upstream { addr, state, task }
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    pub fn add(&self, r: Rule) {
        self.state.rules.lock().unwrap().push(r);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Requests whose `"METHOD target"` starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| format!("{} {}", s.method, s.target).starts_with(prefix))
            .count()
    }
}

/// The binary over stdio, configured against the upstream instead of the sandbox.
pub async fn client_via(sb: &Sandbox, up: &Upstream, extra: &[&str]) -> Client {
    let mut args = vec!["stdio"];
    args.extend_from_slice(extra);
    let mut cmd = command(sb, &args);
    cmd.env("CAPSULE_API_URL", up.api_url());
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn capsule-mcp stdio");
    ().serve(transport).await.expect("MCP initialize")
}

struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> Option<Incoming> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Incoming {
        method,
        target,
        headers,
        body,
    })
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn forward(state: &State, req: &Incoming) -> Answer {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut b = state
        .http
        .request(method, format!("{}{}", state.sandbox, req.target));
    for (k, v) in &req.headers {
        // Host is kept so the sandbox writes this upstream's address into Location and Link.
        if matches!(
            k.as_str(),
            "host" | "authorization" | "content-type" | "accept"
        ) {
            b = b.header(k.as_str(), v.as_str());
        }
    }
    let resp = b.body(req.body.clone()).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "content-type" || k == "location" || k == "link" || k.starts_with("x-ratelimit")
        })
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.bytes().await.unwrap().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn serve(state: Arc<State>, mut stream: TcpStream) {
    let Some(req) = read_request(&mut stream).await else {
        return;
    };
    let bearer = req
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.starts_with("Bearer "));
    state.seen.lock().unwrap().push(Seen {
        method: req.method.clone(),
        target: req.target.clone(),
        at: Instant::now(),
        bearer,
    });
    let key = format!("{} {}", req.method, req.target);
    let act = {
        let mut rules = state.rules.lock().unwrap();
        let pos = rules.iter().position(|r| key.starts_with(&r.route));
        pos.map(|p| {
            rules[p].times -= 1;
            let act = rules[p].act.clone();
            if rules[p].times == 0 {
                rules.remove(p);
            }
            act
        })
    };
    let answer = match act {
        None => forward(&state, &req).await,
        Some(Act::Reply {
            status,
            headers,
            body,
        }) => Answer {
            status,
            headers,
            body: body.into_bytes(),
        },
        Some(Act::ForwardThenStatus(status)) => {
            forward(&state, &req).await;
            Answer {
                status,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            }
        }
        Some(Act::ForwardThenDelay(d)) => {
            let a = forward(&state, &req).await;
            tokio::time::sleep(d).await;
            a
        }
        Some(Act::ForwardThenHangUp) => {
            forward(&state, &req).await;
            let _ = stream.shutdown().await;
            return;
        }
        Some(Act::ForwardThenBody {
            body,
            keep_location,
        }) => {
            let mut a = forward(&state, &req).await;
            a.headers
                .retain(|(k, _)| k != "content-type" && (keep_location || k != "location"));
            a.headers.push(("content-type".into(), "text/html".into()));
            a.body = body.into_bytes();
            a
        }
        Some(Act::ForwardAddHeader(k, v)) => {
            let mut a = forward(&state, &req).await;
            a.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
            a.headers.push((k, v));
            a
        }
    };
    let mut out = format!("HTTP/1.1 {} X\r\n", answer.status);
    for (k, v) in &answer.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        answer.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer.body);
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

fn text(e: &Value) -> String {
    e["message"].as_str().unwrap_or_default().to_owned()
}

/// The three ways a write can reach Capsule and still leave the caller without an answer.
fn lost_answers() -> Vec<(&'static str, Act)> {
    vec![
        ("502 after applying", Act::ForwardThenStatus(502)),
        (
            "an answer slower than the timeout",
            Act::ForwardThenDelay(Duration::from_secs(4)),
        ),
        ("a hang-up after applying", Act::ForwardThenHangUp),
    ]
}

// ---------------------------------------------------------------- item 1: writes sent once

#[tokio::test]
async fn an_update_that_reached_capsule_is_never_sent_again() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &["--request-timeout", "1", "--call-budget", "20"]).await;
    let id = ids(&ok(&client, "crm_list_contacts", json!({"limit": 1})).await)[0].clone();
    for (i, (fault, act)) in lost_answers().into_iter().enumerate() {
        let email = format!("once{i}@example.com");
        up.add(rule(&format!("PUT /api/v2/parties/{id}"), 1, act));
        let before = requests(&sb, "PUT /parties/{id}").await;
        let e = err(
            &client,
            "crm_update_contact",
            json!({"id": id, "email_addresses": [{"email": email, "type": "Work"}]}),
        )
        .await;
        assert_eq!(e["code"], "outcome_unknown", "{fault}: {e}");
        assert!(
            text(&e).to_lowercase().contains("read it back"),
            "{fault}: the message says how to check: {e}"
        );
        assert!(!text(&e).contains("create"), "{fault}: not a create: {e}");
        assert_eq!(
            requests(&sb, "PUT /parties/{id}").await,
            before + 1,
            "{fault}: the update reached Capsule once"
        );
        let got = ok(&client, "crm_get_contact", json!({"id": id})).await;
        let stored = got["email_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["email"] == email)
            .count();
        assert_eq!(stored, 1, "{fault}: one email stored, not two");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_delete_that_reached_capsule_is_never_sent_again() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &["--request-timeout", "1", "--call-budget", "20"]).await;
    let tasks = ok(&client, "crm_list_tasks", json!({"limit": 3})).await;
    for ((fault, act), id) in lost_answers().into_iter().zip(ids(&tasks)) {
        up.add(rule(&format!("DELETE /api/v2/tasks/{id}"), 1, act));
        let before = requests(&sb, "DELETE /tasks/{id}").await;
        let e = err(&client, "crm_delete_task", json!({"id": id})).await;
        assert_eq!(e["code"], "outcome_unknown", "{fault}: {e}");
        assert!(
            text(&e).contains("404") && text(&e).contains("gone"),
            "{fault}: a 404 on a read back means it is gone: {e}"
        );
        assert_eq!(
            requests(&sb, "DELETE /tasks/{id}").await,
            before + 1,
            "{fault}: the delete reached Capsule once"
        );
        let gone = err(&client, "crm_get_task", json!({"id": id})).await;
        assert_eq!(gone["code"], "not_found", "{fault}: it was deleted");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_proxy_sends_a_write_once_as_it_says() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &[]).await;
    let id = ids(&ok(&client, "crm_list_contacts", json!({"limit": 1})).await)[0].clone();
    up.add(rule(
        &format!("PUT /api/v2/parties/{id}"),
        1,
        Act::ForwardThenStatus(502),
    ));
    let before = requests(&sb, "PUT /parties/{id}").await;
    let e = err(
        &client,
        "capsule_api_request",
        json!({"method": "PUT", "path": format!("/parties/{id}"),
               "body": {"party": {"about": "once"}}}),
    )
    .await;
    assert_eq!(e["code"], "outcome_unknown", "{e}");
    assert_eq!(requests(&sb, "PUT /parties/{id}").await, before + 1);
    // A GET through the proxy is a read: retried after a 502.
    up.add(rule(
        &format!("GET /api/v2/parties/{id}"),
        1,
        Act::ForwardThenStatus(502),
    ));
    let got = ok(
        &client,
        "capsule_api_request",
        json!({"method": "GET", "path": format!("/parties/{id}")}),
    )
    .await;
    assert_eq!(got["status"], 200);
    assert_eq!(up.count(&format!("GET /api/v2/parties/{id}")), 2);
    client.cancel().await.unwrap();
}

// ------------------------------------------------- item 3: a stored create that reads badly

#[tokio::test]
async fn a_stored_create_whose_answer_cannot_be_read_is_read_back_or_reported_unknown() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &[]).await;

    // HTML in a 201 that carries Location: the record is read back from there.
    up.add(rule(
        "POST /api/v2/parties?",
        1,
        Act::ForwardThenBody {
            body: "<html><body>Created</body></html>".into(),
            keep_location: true,
        },
    ));
    let posts = requests(&sb, "POST /parties").await;
    let gets = requests(&sb, "GET /parties/{id}").await;
    let created = ok(
        &client,
        "crm_create_account",
        json!({"name": "Read Back Ltd"}),
    )
    .await;
    assert_eq!(created["name"], "Read Back Ltd");
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(requests(&sb, "POST /parties").await, posts + 1);
    assert_eq!(
        requests(&sb, "GET /parties/{id}").await,
        gets + 1,
        "read back by its Location"
    );

    // Truncated JSON and no Location: stored, but the tool cannot know; it says so.
    up.add(rule(
        "POST /api/v2/parties?",
        1,
        Act::ForwardThenBody {
            body: r#"{"party": {"id": 9, "name": "Trunc"#.into(),
            keep_location: false,
        },
    ));
    let posts = requests(&sb, "POST /parties").await;
    let e = err(
        &client,
        "crm_create_account",
        json!({"name": "Truncated Ltd"}),
    )
    .await;
    assert_eq!(e["code"], "outcome_unknown", "{e}");
    assert!(
        text(&e).to_lowercase().contains("search"),
        "a create says to search before retrying: {e}"
    );
    assert_eq!(requests(&sb, "POST /parties").await, posts + 1);
    let found = ok(
        &client,
        "crm_list_accounts",
        json!({"search": "Truncated Ltd"}),
    )
    .await;
    assert_eq!(found["result_count"], 1, "it was stored, once");

    // An update answered 200 with HTML: applied, unknown to the tool.
    let id = found["result"][0]["id"].as_str().unwrap().to_owned();
    up.add(rule(
        &format!("PUT /api/v2/parties/{id}"),
        1,
        Act::ForwardThenBody {
            body: "<html>OK</html>".into(),
            keep_location: false,
        },
    ));
    let e = err(
        &client,
        "crm_update_account",
        json!({"id": id, "description": "changed"}),
    )
    .await;
    assert_eq!(e["code"], "outcome_unknown", "{e}");
    assert!(text(&e).to_lowercase().contains("read it back"), "{e}");
    client.cancel().await.unwrap();
}

// ----------------------------------------------------------- item 5: Retry-After on a 5xx

#[tokio::test]
async fn retry_after_on_a_5xx_read_is_waited_when_it_fits_and_answered_when_not() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &["--call-budget", "6"]).await;
    let id = ids(&ok(&client, "crm_list_contacts", json!({"limit": 1})).await)[0].clone();
    let route = format!("GET /api/v2/parties/{id}");
    let unavailable = |secs: &str| Act::Reply {
        status: 503,
        headers: vec![
            ("retry-after".into(), secs.into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: r#"{"message": "Service Unavailable"}"#.into(),
    };

    up.add(rule(&route, 1, unavailable("2")));
    ok(&client, "crm_get_contact", json!({"id": id})).await;
    let seen: Vec<Seen> = up
        .seen()
        .into_iter()
        .filter(|s| format!("{} {}", s.method, s.target).starts_with(&route))
        .collect();
    assert_eq!(seen.len(), 2, "one 503, one retry");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "the retry waited for Retry-After: {gap:?}"
    );

    up.add(rule(&route, 1, unavailable("30")));
    let before = up.count(&route);
    let started = Instant::now();
    let e = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(e["retry_after_seconds"], 30, "{e}");
    assert!(text(&e).contains("30"), "{e}");
    assert_eq!(up.count(&route), before + 1, "no retry inside the budget");
    assert!(started.elapsed() < Duration::from_secs(5));
    client.cancel().await.unwrap();
}

// ------------------------------------------------------- item 11: relative Link headers

#[tokio::test]
async fn relative_links_are_resolved_and_never_leave_the_api_root() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let mut clients = Vec::new();
    for link in [
        "/../../_sandbox/stats",
        "/%2e%2e/%2e%2e/oauth/token",
        "../../oauth/token",
        "/api/v2/%2E%2E/%2e%2E/_sandbox/stats",
        "//evil.example/api/v2/users",
    ] {
        // A new process each time: the users list is cached once fetched.
        let client = client_via(&sb, &up, &[]).await;
        up.add(rule(
            "GET /api/v2/users",
            1,
            Act::ForwardAddHeader("link".into(), format!("<{link}>; rel=\"next\"")),
        ));
        let e = err(&client, "crm_list_users", json!({})).await;
        assert_eq!(e["code"], "upstream_error", "{link}: {e}");
        assert!(text(&e).contains("outside the API root"), "{link}: {e}");
        let outside: Vec<Seen> = up
            .seen()
            .into_iter()
            .filter(|s| !s.target.starts_with("/api/v2/"))
            .collect();
        assert!(
            !outside.iter().any(|s| s.bearer),
            "{link}: the token left the API root: {outside:?}"
        );
        assert!(
            outside.is_empty(),
            "{link}: requests left the root: {outside:?}"
        );
        clients.push(client);
    }
    // A relative link inside the root is followed.
    let fresh = client_via(&sb, &up, &[]).await;
    up.add(rule(
        "GET /api/v2/users",
        1,
        Act::ForwardAddHeader("link".into(), "<?embed=party&page=2>; rel=\"next\"".into()),
    ));
    let before = up.count("GET /api/v2/users");
    ok(&fresh, "crm_list_users", json!({})).await;
    assert_eq!(
        up.count("GET /api/v2/users"),
        before + 2,
        "page 2 was fetched"
    );
    assert!(
        up.seen()
            .iter()
            .any(|s| s.target.starts_with("/api/v2/users?") && s.target.contains("page=2")),
        "the link was resolved against the request URL"
    );
    for c in clients {
        c.cancel().await.unwrap();
    }
    fresh.cancel().await.unwrap();
}

// ------------------------------------------ item 12: limit applies to what Capsule returns

fn people(from: i64, n: i64) -> String {
    let parties: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"id": i, "type": "person", "firstName": "P", "lastName": i.to_string(),
                        "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"})
        })
        .collect();
    json!({ "parties": parties }).to_string()
}

#[tokio::test]
async fn limit_cuts_a_page_from_an_upstream_that_ignores_per_page() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &[]).await;
    let page = |body: String| Act::Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    up.add(rule(
        "POST /api/v2/parties/filters/results",
        2,
        page(people(1, 2_000)),
    ));
    let first = ok(&client, "crm_list_contacts", json!({"limit": 2})).await;
    assert_eq!(first["result_count"], 2, "limit 2 returns 2");
    assert_eq!(ids(&first), ["1", "2"]);
    let cursor = first["next_cursor"].as_str().expect("more on that page");
    let second = ok(&client, "crm_list_contacts", json!({"cursor": cursor})).await;
    assert_eq!(
        ids(&second),
        ["3", "4"],
        "the cursor resumes where the cut was"
    );
    client.cancel().await.unwrap();
}

// ------------------------------------------------ item 16: numbers Capsule sends as strings

#[tokio::test]
async fn an_entry_with_numbers_as_strings_is_read() {
    let sb = sandbox().await;
    let up = Upstream::start(&sb).await;
    let client = client_via(&sb, &up, &[]).await;
    let entry = |size: Value| {
        json!({"entry": {
            "id": "11", "type": "note", "content": "Shakespeare's collected works",
            "attachments": [{"id": "4", "filename": "works.pdf",
                             "contentType": "application/pdf", "size": size}],
            "creator": {"id": "61", "username": "ted", "name": "Ted Danson"},
            "activityType": {"id": "-1", "name": "Note"},
            "createdAt": "2015-12-07T16:54:27Z", "updatedAt": "2015-12-07T16:54:27Z",
            "entryAt": "2015-12-07T16:54:27Z",
            "party": {"id": "892", "type": "organisation", "name": "Zestia"}
        }})
        .to_string()
    };
    let reply = |body: String| Act::Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    up.add(rule(
        "GET /api/v2/entries/11",
        1,
        reply(entry(json!("76542"))),
    ));
    let note = ok(&client, "crm_get_note", json!({"id": "11"})).await;
    assert_eq!(note["id"], "11");
    assert_eq!(note["content"], "Shakespeare's collected works");
    // Not a number in any form: a decode error that names the field.
    up.add(rule(
        "GET /api/v2/entries/11",
        1,
        reply(entry(json!("big"))),
    ));
    let e = err(&client, "crm_get_note", json!({"id": "11"})).await;
    assert_eq!(e["code"], "upstream_error", "{e}");
    assert!(text(&e).contains("attachments[0].size"), "{e}");
    client.cancel().await.unwrap();
}
