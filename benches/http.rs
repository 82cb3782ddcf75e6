//! HTTP speed against a raw proxy (issue 14): `tools/call crm_get_contact` through the real
//! binary (`http --stateless`, and `http` with one session per client) and through a minimal
//! axum → reqwest proxy doing the same GET, with the same concurrent keep-alive clients.
//!
//! `cargo bench --bench http` (the bench profile is release, and so is the binary it drives).
//! Every process is a child of this one: the sandbox Capsule (`capsule-mcp sandbox`, its rate
//! limit raised so nothing is throttled), each server under test, and the raw proxy (this
//! bench binary re-run with `--baseline-proxy`), so each one's peak RSS (`VmHWM`) is its own.
//! The servers run in interleaved rounds (the raw proxy, stateless, sessions; again), each run
//! a fresh process: on a shared machine whose speed drifts, a server is compared with the proxy
//! of its own round, and the ratios are the median over the rounds.
//! Knobs: `HTTP_BENCH_CLIENTS` (50), `HTTP_BENCH_WARMUP` (2 s), `HTTP_BENCH_SECS` (6 s),
//! `HTTP_BENCH_ROUNDS` (3), `HTTP_BENCH_ONLY` (e.g. `baseline,stateless`; also `sessions`, `s1`,
//! `p1`, `p2`), `HTTP_BENCH_BIN` (another server binary, to compare builds; the sandbox stays
//! the built one).
//! Every answer is checked to be a successful tool result; any error makes the run fail.
//! Also: S1, the memory a session held open costs (idle, and with its GET stream); P1, the
//! latency a call adds over stdio against a direct GET (median); and P2, the cold start to
//! `initialize` answered against spawning `/bin/true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::SocketAddr,
    process::{ExitCode, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::body::Bytes;
use capsule_mcp::sandbox::ADMIN_TOKEN;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};

const BUILT: &str = env!("CARGO_BIN_EXE_capsule-mcp");

/// The server under test: the one cargo built, or `HTTP_BENCH_BIN` (to compare two builds).
fn bin() -> String {
    std::env::var("HTTP_BENCH_BIN").unwrap_or_else(|_| BUILT.to_owned())
}
const VERSION: &str = "2025-06-18";
const BASELINE: &str = "raw axum→reqwest";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--baseline-proxy") {
        let api = args.get(i + 1).expect("--baseline-proxy API_URL").clone();
        // The same runtime the server gets: tokio's multi-thread default.
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(baseline::serve(api));
        return ExitCode::SUCCESS;
    }
    tokio::runtime::Runtime::new().unwrap().block_on(run())
}

/// The raw proxy: same JSON-RPC body in, same GET to the sandbox, the answer wrapped as a tool
/// result out. No MCP.
mod baseline {
    use std::sync::Arc;

    use axum::{
        Json, Router,
        body::Bytes,
        extract::State,
        http::StatusCode,
        response::{IntoResponse, Response},
        routing::post,
        serve::ListenerExt,
    };
    use capsule_mcp::sandbox::ADMIN_TOKEN;
    use serde_json::{Value, json};

    struct Proxy {
        api: String,
        client: reqwest::Client,
    }

    async fn call(State(p): State<Arc<Proxy>>, body: Bytes) -> Response {
        let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let id = msg["id"].clone();
        let Some(party) = msg["params"]["arguments"]["id"].as_str() else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let answer = p
            .client
            .get(format!("{}/parties/{party}?embed=tags,fields", p.api))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await;
        let value: Value = match answer {
            Ok(r) if r.status().is_success() => match r.json().await {
                Ok(v) => v,
                Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
            },
            _ => return StatusCode::BAD_GATEWAY.into_response(),
        };
        let text = value.to_string();
        Json(json!({"jsonrpc": "2.0", "id": id, "result": {
            "content": [{"type": "text", "text": text}],
            "structuredContent": value, "isError": false}}))
        .into_response()
    }

    pub async fn serve(api: String) {
        let proxy = Arc::new(Proxy {
            api,
            client: reqwest::Client::new(),
        });
        let app = Router::new().route("/mcp", post(call)).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("baseline listening on {}", listener.local_addr().unwrap());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    }
}

/// A child process and the address it serves.
struct Served {
    child: Child,
    addr: SocketAddr,
}

/// Resident set now (`VmRSS`) of a live process, in KB.
fn rss_kb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// S1: what a session held open costs the server, in KB each: `n` sessions initialized (and
/// left idle), then `n` more that also keep their standalone `GET` stream open, as the
/// TypeScript SDK's clients do. After a warm-up session and call, so the first session's
/// one-time costs are not counted.
async fn s1(api: &str, contact: &str, n: usize) -> (f64, f64) {
    let cap = (2 * n + 10).to_string();
    let served = spawn_listening(
        server_command(
            api,
            &[
                "http",
                "--listen",
                "127.0.0.1:0",
                "--max-sessions",
                &cap,
                "--max-connections",
                &cap,
            ],
        ),
        "capsule-mcp listening on ",
        true,
    )
    .await;
    let pid = served.child.id().unwrap_or(0);
    let mut conn = Conn::open(served.addr).await;
    let sid = initialize(&mut conn).await.unwrap();
    let answer = conn.post(call_body(1, contact), Some(&sid)).await.unwrap();
    assert!(
        check(&answer, 1, contact, false).is_none(),
        "S1 warm-up call"
    );
    let settle = || tokio::time::sleep(Duration::from_millis(300));
    settle().await;
    let before = rss_kb(pid);
    for _ in 0..n {
        initialize(&mut conn).await.unwrap();
    }
    settle().await;
    let idle = rss_kb(pid);
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let sid = initialize(&mut conn).await.unwrap();
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        let get = format!(
            "GET /mcp HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\
             Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {VERSION}\r\n\r\n",
            served.addr
        );
        stream.write_all(get.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut head)
            .await
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "S1: the GET stream opens");
        streams.push(stream);
    }
    settle().await;
    let streaming = rss_kb(pid);
    drop(streams);
    let per = |kb: f64| kb / n as f64;
    (per(idle - before), per(streaming - idle))
}

/// Peak resident set (`VmHWM`) of a live process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (clock ticks).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // CLK_TCK is 100 on Linux.
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// Spawns `cmd` and waits for a line on stdout or stderr that starts with `prefix`; the rest of
/// the line (up to `/`) is the address. The stream keeps being drained so the child never blocks.
async fn spawn_listening(mut cmd: Command, prefix: &'static str, on_stderr: bool) -> Served {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    if on_stderr {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    }
    let mut child = cmd.spawn().expect("spawn");
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let mut tx = Some(tx);
    let mut lines: Box<dyn tokio::io::AsyncBufRead + Unpin + Send> = if on_stderr {
        Box::new(BufReader::new(child.stderr.take().unwrap()))
    } else {
        Box::new(BufReader::new(child.stdout.take().unwrap()))
    };
    tokio::spawn(async move {
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if let Some(rest) = line.trim().strip_prefix(prefix)
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
            }
        }
    });
    let rest = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the child listens within 30 s")
        .expect("the child exited before listening");
    let rest = rest.trim_start_matches("http://");
    let addr = rest.split('/').next().unwrap().parse().unwrap();
    Served { child, addr }
}

fn server_command(api: &str, args: &[&str]) -> Command {
    // `HTTP_BENCH_WRAP="heaptrack -o /tmp/h"` runs the server under a profiler (the VmHWM
    // then is the wrapper's).
    let wrap = std::env::var("HTTP_BENCH_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(wrap).arg(bin());
            cmd
        }
        None => Command::new(bin()),
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAPSULE_API_URL", api)
        .env("CAPSULE_ACCESS_TOKEN", ADMIN_TOKEN);
    // The server logs at its default level (info) unless the caller says otherwise.
    if let Ok(level) = std::env::var("HTTP_BENCH_SERVER_LOG") {
        cmd.env("RUST_LOG", level);
    }
    cmd
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

struct Answer {
    status: u16,
    session: Option<String>,
    body: Bytes,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Self {
            sender,
            host: addr.to_string(),
        }
    }

    async fn post(&mut self, body: Bytes, session: Option<&str>) -> Result<Answer, String> {
        let mut req = http::Request::post("/mcp")
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION);
        if let Some(sid) = session {
            req = req.header("mcp-session-id", sid);
        }
        let req = req.body(Full::new(body)).unwrap();
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer {
            status,
            session,
            body,
        })
    }
}

/// The JSON-RPC message answering `id` in a JSON or SSE body.
fn answer_for(body: &[u8], id: u64) -> Option<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return (v["id"] == id).then_some(v);
    }
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v["id"] == id)
}

/// `None` when the answer is a successful tool result for `contact`; the problem otherwise.
fn check(answer: &Answer, id: u64, contact: &str, baseline: bool) -> Option<String> {
    if answer.status != 200 {
        return Some(format!(
            "HTTP {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    let Some(msg) = answer_for(&answer.body, id) else {
        return Some(format!(
            "no JSON-RPC answer with id {id}: {}",
            String::from_utf8_lossy(&answer.body)
        ));
    };
    let result = &msg["result"];
    if result.is_null() || result["isError"] == true {
        return Some(format!("not a successful tool result: {msg}"));
    }
    let got = if baseline {
        result["structuredContent"]["party"]["id"].to_string()
    } else {
        result["structuredContent"]["id"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    (got != contact).then(|| format!("the wrong record ({got}): {msg}"))
}

fn call_body(id: u64, contact: &str) -> Bytes {
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "crm_get_contact", "arguments": {"id": contact}}})
        .to_string(),
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Baseline,
    Stateless,
    Sessions,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn initialize(conn: &mut Conn) -> Result<String, String> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {},
        "clientInfo": {"name": "http-bench", "version": "0"}}});
    let answer = conn.post(Bytes::from(init.to_string()), None).await?;
    let sid = answer
        .session
        .ok_or_else(|| format!("initialize: no session id (HTTP {})", answer.status))?;
    answer_for(&answer.body, 0).ok_or("initialize: no answer")?;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let answer = conn.post(Bytes::from(note.to_string()), Some(&sid)).await?;
    if answer.status != 202 {
        return Err(format!("notifications/initialized: HTTP {}", answer.status));
    }
    Ok(sid)
}

async fn worker(
    addr: SocketAddr,
    mode: Mode,
    contact: Arc<str>,
    measure_from: Instant,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut conn = Conn::open(addr).await;
    let session = if mode == Mode::Sessions {
        match initialize(&mut conn).await {
            Ok(sid) => Some(sid),
            Err(e) => {
                tally.errors += 1;
                tally.first_error = Some(e);
                return tally;
            }
        }
    } else {
        None
    };
    let mut id = 1u64;
    loop {
        let started = Instant::now();
        if started >= until {
            return tally;
        }
        let outcome = conn.post(call_body(id, &contact), session.as_deref()).await;
        let done = Instant::now();
        let problem = match &outcome {
            Ok(answer) => check(answer, id, &contact, mode == Mode::Baseline),
            Err(e) => Some(format!("transport: {e}")),
        };
        if started >= measure_from && done <= until {
            if let Some(p) = problem {
                tally.errors += 1;
                tally.first_error.get_or_insert(p);
            } else {
                let us = (done - started).as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies_us.push(us);
            }
        } else if let Some(p) = problem {
            // Warm-up errors count too.
            tally.errors += 1;
            tally.first_error.get_or_insert(p);
        }
        if outcome.is_err() {
            conn = Conn::open(addr).await;
        }
        id += 1;
    }
}

struct Figures {
    name: &'static str,
    /// CPU the server and the sandbox used per measured call.
    server_cpu_us: f64,
    sandbox_cpu_us: f64,
    calls_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_mb: f64,
    errors: u64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    name: &'static str,
    served: &Served,
    sandbox_pid: u32,
    mode: Mode,
    contact: &Arc<str>,
    clients: usize,
    warmup: Duration,
    secs: Duration,
) -> Figures {
    let start = Instant::now();
    let measure_from = start + warmup;
    let until = measure_from + secs;
    let pid = served.child.id().unwrap_or(0);
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let at_start = (cpu_time(pid), cpu_time(sandbox_pid));
        tokio::time::sleep_until(until.into()).await;
        (
            cpu_time(pid).saturating_sub(at_start.0),
            cpu_time(sandbox_pid).saturating_sub(at_start.1),
        )
    });
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(worker(
                served.addr,
                mode,
                contact.clone(),
                measure_from,
                until,
            ))
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for w in workers {
        let t = w.await.unwrap();
        all.extend(t.latencies_us);
        errors += t.errors;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    all.sort_unstable();
    if let Some(e) = first_error {
        let e: String = e.chars().take(400).collect();
        eprintln!("!! {name}: {errors} errors; the first: {e}");
    }
    let (server_cpu, sandbox_cpu) = cpu.await.unwrap();
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / all.len().max(1) as f64;
    Figures {
        name,
        server_cpu_us: per_call(server_cpu),
        sandbox_cpu_us: per_call(sandbox_cpu),
        calls_per_s: all.len() as f64 / secs.as_secs_f64(),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        rss_mb: peak_rss_mb(pid),
        errors,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// P1: median time of a `tools/call` over stdio, and of the same GET straight to the sandbox.
async fn p1(api: &str, contact: &str, n: usize) -> (Duration, Duration) {
    let mut child = server_command(api, &["stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut exchange = async |msg: Value, id: Option<u64>| {
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let Some(id) = id else { return Value::Null };
        loop {
            let line = lines.next_line().await.unwrap().expect("stdio answer");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    };
    exchange(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {},
            "clientInfo": {"name": "http-bench", "version": "0"}}}),
        Some(0),
    )
    .await;
    exchange(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        None,
    )
    .await;
    let mut stdio = Vec::with_capacity(n);
    for id in 1..=(n as u64 + 20) {
        let started = Instant::now();
        let v = exchange(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "crm_get_contact", "arguments": {"id": contact}}}),
            Some(id),
        )
        .await;
        assert_eq!(v["result"]["structuredContent"]["id"], contact, "{v}");
        if id > 20 {
            stdio.push(started.elapsed());
        }
    }
    let client = reqwest::Client::new();
    let url = format!("{api}/parties/{contact}?embed=tags,fields");
    let mut direct = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let started = Instant::now();
        let r = client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        if i >= 20 {
            direct.push(started.elapsed());
        }
    }
    (median(stdio), median(direct))
}

/// P2: median time from spawn to `initialize` answered over stdio, and to `/bin/true` exiting.
async fn p2(api: &str, n: usize) -> (Duration, Duration) {
    let mut cold = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let mut child = server_command(api, &["stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {},
            "clientInfo": {"name": "http-bench", "version": "0"}}});
        stdin
            .write_all(format!("{init}\n").as_bytes())
            .await
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().expect("initialize answer");
        cold.push(started.elapsed());
        assert!(line.contains("\"result\""), "{line}");
        drop(stdin);
        let _ = child.kill().await;
    }
    let mut trivial = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        Command::new("/bin/true").status().await.unwrap();
        trivial.push(started.elapsed());
    }
    (median(cold), median(trivial))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run() -> ExitCode {
    let clients = env_num("HTTP_BENCH_CLIENTS", 50) as usize;
    let warmup = Duration::from_secs(env_num("HTTP_BENCH_WARMUP", 2));
    let secs = Duration::from_secs(env_num("HTTP_BENCH_SECS", 6).max(1));
    let rounds = env_num("HTTP_BENCH_ROUNDS", 3).max(1) as usize;

    let mut sandbox_cmd = Command::new(BUILT);
    sandbox_cmd
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn");
    let sandbox = spawn_listening(sandbox_cmd, "Sandbox Capsule API listening at ", false).await;
    let sandbox_pid = sandbox.child.id().unwrap_or(0);
    let base = format!("http://{}", sandbox.addr);
    let api = format!("{base}/api/v2");
    let http = reqwest::Client::new();
    let raised = http
        .post(format!("{base}/_sandbox/config"))
        .json(&json!({"rate_limit_per_hour": u32::MAX}))
        .send()
        .await
        .unwrap();
    assert!(raised.status().is_success(), "raising the rate limit");
    let people: Value = http
        .get(format!("{api}/parties?perPage=100"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let contact: Arc<str> = people["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "person")
        .map(|p| p["id"].to_string())
        .expect("a person in the sandbox")
        .into();

    println!(
        "== HTTP: tools/call crm_get_contact {{\"id\": {contact}}}, {clients} keep-alive clients, \
         {} s warm-up + {} s measured, {rounds} interleaved rounds, each server a fresh child \
         process each round",
        warmup.as_secs(),
        secs.as_secs()
    );
    // `HTTP_BENCH_ONLY=stateless,sessions` skips the others (for profiling one server).
    let only = std::env::var("HTTP_BENCH_ONLY").ok();
    let wanted = |what: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w == what))
    };
    // What each round runs, in order: (key, name, mode, how to start it). The proxy comes first,
    // so each server is compared with the proxy of its own round.
    let proxy_args = ["--baseline-proxy", api.as_str()];
    let runs = [
        ("baseline", BASELINE, Mode::Baseline, &proxy_args[..]),
        (
            "stateless",
            "capsule-mcp stateless",
            Mode::Stateless,
            &["http", "--listen", "127.0.0.1:0", "--stateless"][..],
        ),
        (
            "sessions",
            "capsule-mcp sessions",
            Mode::Sessions,
            &["http", "--listen", "127.0.0.1:0"][..],
        ),
    ];
    // figures[round] = that round's runs, the proxy first when it ran.
    let mut figures: Vec<Vec<Figures>> = Vec::new();
    for _ in 0..rounds {
        let mut round = Vec::new();
        for (key, name, mode, args) in runs {
            if !wanted(key) {
                continue;
            }
            let served = if mode == Mode::Baseline {
                let mut cmd = Command::new(std::env::current_exe().unwrap());
                cmd.args(args);
                spawn_listening(cmd, "baseline listening on ", false).await
            } else {
                let served = spawn_listening(
                    server_command(&api, args),
                    "capsule-mcp listening on ",
                    true,
                )
                .await;
                eprintln!("{name}: pid {}", served.child.id().unwrap_or(0));
                served
            };
            round.push(
                drive(
                    name,
                    &served,
                    sandbox_pid,
                    mode,
                    &contact,
                    clients,
                    warmup,
                    secs,
                )
                .await,
            );
        }
        figures.push(round);
    }

    println!(
        "{:<8}{:<24}{:>10}{:>10}{:>10}{:>14}{:>8}{:>18}",
        "round", "", "calls/s", "p50 ms", "p99 ms", "peak RSS MB", "errors", "CPU µs/call srv/sb"
    );
    for (i, round) in figures.iter().enumerate() {
        for f in round {
            println!(
                "{:<8}{:<24}{:>10.0}{:>10.2}{:>10.2}{:>14.1}{:>8}{:>12.0} /{:>4.0}",
                i + 1,
                f.name,
                f.calls_per_s,
                f.p50_ms,
                f.p99_ms,
                f.rss_mb,
                f.errors,
                f.server_cpu_us,
                f.sandbox_cpu_us
            );
        }
    }
    let mut missed = 0;
    // Each server against the proxy of its own round: (name, [calls/s, p50, p99, RSS] ratios).
    let mut ratios: Vec<(&'static str, Vec<[f64; 4]>)> = Vec::new();
    for round in &figures {
        let Some((base, servers)) = round
            .split_first()
            .filter(|(base, _)| base.name == BASELINE)
        else {
            continue;
        };
        for f in servers {
            let r = [
                f.calls_per_s / base.calls_per_s,
                f.p50_ms / base.p50_ms,
                f.p99_ms / base.p99_ms,
                f.rss_mb / base.rss_mb,
            ];
            match ratios.iter_mut().find(|(name, _)| *name == f.name) {
                Some((_, list)) => list.push(r),
                None => ratios.push((f.name, vec![r])),
            }
        }
    }
    if !ratios.is_empty() {
        println!(
            "== against the raw proxy of the same round: median of {rounds} (range), target in \
             brackets"
        );
    }
    for (name, list) in &ratios {
        let mut mark = |ok: bool| {
            if ok {
                "ok"
            } else {
                missed += 1;
                "MISS"
            }
        };
        let stat = |k: usize| {
            let mut v: Vec<f64> = list.iter().map(|r| r[k]).collect();
            v.sort_by(f64::total_cmp);
            let (lo, hi) = (v[0], v[v.len() - 1]);
            (v[v.len() / 2], format!("{lo:.2}-{hi:.2}"))
        };
        let (tput, tput_r) = stat(0);
        let (p50, p50_r) = stat(1);
        let (p99, p99_r) = stat(2);
        let (rss, rss_r) = stat(3);
        println!(
            "{name:<24}calls/s {tput:.2}x ({tput_r}) (>= 0.85) {}  p50 {p50:.2}x ({p50_r}) (<= 1.2) {}  \
             p99 {p99:.2}x ({p99_r}) (<= 1.3) {}  RSS {rss:.2}x ({rss_r}) (<= 1.5) {}",
            mark(tput >= 0.85),
            mark(p50 <= 1.2),
            mark(p99 <= 1.3),
            mark(rss <= 1.5),
        );
    }

    if wanted("s1") {
        let n = 300;
        let (idle, streaming) = s1(&api, &contact, n).await;
        println!(
            "S1 a session held open: {idle:.1} KB idle, {streaming:.1} KB with its GET stream \
             open ({n} sessions of each)"
        );
    }
    if wanted("p1") {
        let (stdio, direct) = p1(&api, &contact, 300).await;
        println!(
            "P1 stdio: a call {:.3} ms median, a direct GET {:.3} ms: {:.3} ms added",
            ms(stdio),
            ms(direct),
            ms(stdio.saturating_sub(direct))
        );
    }
    if wanted("p2") {
        let (cold, trivial) = p2(&api, 10).await;
        println!(
            "P2 cold start to initialize answered {:.1} ms median, /bin/true {:.1} ms: {:.1} ms more",
            ms(cold),
            ms(trivial),
            ms(cold.saturating_sub(trivial))
        );
    }
    drop(sandbox);

    let errors: u64 = figures.iter().flatten().map(|f| f.errors).sum();
    if errors > 0 {
        eprintln!("!! FAILED: {errors} calls did not return a successful tool result (see above)");
        return ExitCode::from(1);
    }
    println!("targets missed: {missed}");
    ExitCode::SUCCESS
}
