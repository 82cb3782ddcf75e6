//! Real MCP clients that nobody on the project wrote, pinned in `tests/clients` and installed by
//! `tests/clients/setup` (npm: the TypeScript SDK 1.32.2 and 1.24.3, the conformance suite
//! 0.1.13, the Inspector 1.0.3; PyPI: `mcp` 2.3.0 and `jsonschema`), against the real binary
//! over stdio, stateful HTTP and stateless HTTP, on the sandbox Capsule.
//!
//! The walkers (`ts_walk.mjs`, `py_walk.py`) list the tools, call every one with the arguments
//! of `tests/clients/plan.json` (writes as dry runs) and with the error cases derived from its
//! input schema (see `walk_cases.mjs`), and report every problem they see. Each test here prints
//! the walk's summary line and fails with the list of problems: tool, case, what was wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use capsule_mcp::sandbox::{ADMIN_TOKEN, Sandbox};
use serde_json::Value;

use super::common::*;

const WALK_TIMEOUT: Duration = Duration::from_secs(240);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn clients_dir() -> PathBuf {
    repo().join("tests/clients")
}

/// Where `tests/clients/setup` makes the Python venv (the same default as the script's).
fn venv_dir() -> PathBuf {
    std::env::var_os("CAPSULE_CLIENTS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/clients-venv"))
}

/// A line on the real stderr, past libtest's capture, so passing runs show the summaries too.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs `tests/clients/setup` once per test process, under a file lock shared with other
/// processes (the script is told it holds the lock). Fails every real-client test when it fails.
pub(crate) fn setup() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = DONE.get_or_init(run_setup) {
        panic!("{e}");
    }
}

fn run_setup() -> Result<(), String> {
    let venv = venv_dir();
    let lock_dir = venv.parent().ok_or("the venv has no parent directory")?;
    std::fs::create_dir_all(lock_dir).map_err(|e| format!("{}: {e}", lock_dir.display()))?;
    let lock_path = lock_dir.join("clients-setup.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    fs4::fs_std::FileExt::lock_exclusive(&lock)
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    let out = std::process::Command::new("timeout")
        .args(["900", "bash"])
        .arg(clients_dir().join("setup"))
        .env("CAPSULE_CLIENTS_SETUP_LOCKED", "1")
        .env("CAPSULE_CLIENTS_VENV", &venv)
        .output()
        .map_err(|e| format!("cannot run tests/clients/setup: {e}"))?;
    drop(lock);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "tests/clients/setup failed ({}); the real-client tests need it:\n{stdout}{stderr}",
            out.status
        ));
    }
    for line in stdout.lines().filter(|l| l.contains("setup:")) {
        say(line);
    }
    Ok(())
}

/// What `capsule-mcp tools --json` lists (what tools/list serves).
fn catalogue() -> &'static Vec<Value> {
    static CAT: OnceLock<Vec<Value>> = OnceLock::new();
    CAT.get_or_init(|| {
        let out = std::process::Command::new(BIN)
            .args(["tools", "--json"])
            .env_remove("CAPSULE_MCP_TOOLSETS")
            .env_remove("CAPSULE_MCP_TOOLS")
            .env_remove("CAPSULE_MCP_READ_ONLY")
            .output()
            .expect("capsule-mcp tools --json");
        assert!(out.status.success(), "capsule-mcp tools --json failed");
        serde_json::from_slice(&out.stdout).expect("tools --json is a JSON array")
    })
}

fn plan() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(clients_dir().join("plan.json")).unwrap();
    serde_json::from_str(&text).expect("tests/clients/plan.json is a JSON object")
}

#[test]
fn the_plan_names_exactly_the_served_tools() {
    let served: BTreeSet<String> = catalogue()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let planned: BTreeSet<String> = plan().into_keys().collect();
    let missing: Vec<_> = served.difference(&planned).collect();
    let extra: Vec<_> = planned.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "tests/clients/plan.json must give success arguments for exactly the served tools; \
         missing: {missing:?}; not served: {extra:?}"
    );
    for (tool, args) in plan() {
        assert!(
            args.is_object(),
            "plan.json: {tool}'s arguments are not an object"
        );
        if tool.contains("_create_") || tool.contains("_update_") || tool.contains("_delete_") {
            assert_eq!(args["dry_run"], true, "plan.json: {tool} must be a dry run");
        }
    }
}

// --- The case rules of walk_cases.mjs / py_walk.py, counted here so a walker cannot skip any.

fn single_type(prop: &Value) -> bool {
    const TYPES: [&str; 6] = ["string", "integer", "number", "boolean", "array", "object"];
    let types: Vec<&str> = match &prop["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    types.len() == 1 && TYPES.contains(&types[0])
}

struct Expected {
    calls: u64,
    errors: u64,
    /// Not-found cases on write tools: each may send one real write, to an id that does not exist.
    write_not_found: u64,
}

fn expected_cases() -> Expected {
    let plan = plan();
    let mut e = Expected {
        calls: 0,
        errors: 0,
        write_not_found: 0,
    };
    for tool in catalogue() {
        let schema = &tool["inputSchema"];
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut n = 2; // success, unknown_argument
        n += u64::from(props.values().any(single_type));
        n += u64::from(schema["required"].as_array().is_some_and(|r| !r.is_empty()));
        if props.contains_key("id") {
            n += 1;
            let name = tool["name"].as_str().unwrap();
            if plan.get(name).is_some_and(|a| a.get("dry_run").is_some()) {
                e.write_not_found += 1;
            }
        }
        e.calls += n;
        e.errors += n - 1;
    }
    e
}

// --- The walks.

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Stdio,
    Http,
    Stateless,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
            Transport::Stateless => "http-stateless",
        }
    }
}

#[derive(Clone, Copy)]
enum Walker {
    /// The node_modules package key: `sdk` (1.32.2) or `sdk-1.24`.
    TypeScript(&'static str),
    /// The Python client's `mode`: `legacy` or `auto`.
    Python(&'static str),
}

/// The environment the clients run in: nothing of the caller's but PATH and HOME, plus the
/// sandbox's URL and token (a stdio server spawned by a client inherits them).
pub(crate) fn client_command(
    program: impl AsRef<std::ffi::OsStr>,
    sb: &Sandbox,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAPSULE_API_URL", sb.api_url())
        .env("CAPSULE_ACCESS_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .current_dir(clients_dir())
        .kill_on_drop(true);
    if let Some(home) = std::env::var_os("HOME") {
        cmd.env("HOME", home);
    }
    cmd
}

/// `HTTP /_sandbox/stats` request counts of every method but GET, by route.
async fn sandbox_writes(sb: &Sandbox) -> BTreeMap<String, u64> {
    let s = stats(sb).await;
    s["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(route, _)| !route.starts_with("GET "))
                .map(|(route, n)| (route.clone(), n.as_u64().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default()
}

/// "N× what" for each kind of problem: its text before the quoted data, argument names elided.
fn kinds(problems: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in problems {
        let what = p.split_once("]: ").map_or(p.as_str(), |(_, w)| w);
        let cut = [": {", ": [", ": \"", ": data "]
            .iter()
            .filter_map(|m| what.find(m))
            .min()
            .unwrap_or(what.len());
        let mut kind = String::new();
        for (i, part) in what[..cut].split('`').enumerate() {
            kind.push_str(if i % 2 == 1 { "`…`" } else { part });
        }
        *counts.entry(kind).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| format!("{n}× {k}")).collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn walk(walker: Walker, transport: Transport) {
    setup();
    let sb = sandbox().await;
    let mut cmd = match walker {
        Walker::TypeScript(sdk) => {
            let mut c = client_command("node", &sb);
            c.args(["ts_walk.mjs", "--sdk", sdk]);
            c
        }
        Walker::Python(mode) => {
            let mut c = client_command(venv_dir().join("bin/python"), &sb);
            c.args(["py_walk.py", "--mode", mode]);
            c
        }
    };
    cmd.args(["--transport", transport.name(), "--plan", "plan.json"]);
    let _server = match transport {
        Transport::Stdio => {
            cmd.arg("--").arg(BIN).arg("stdio");
            None
        }
        Transport::Http | Transport::Stateless => {
            let extra: &[&str] = if transport == Transport::Stateless {
                &["--stateless"]
            } else {
                &[]
            };
            let (child, url) = http_server(&sb, extra, &[]).await;
            cmd.args(["--url", &url]);
            Some(child)
        }
    };
    let out = tokio::time::timeout(WALK_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the walk over {} hung", transport.name()))
        .expect("spawn the walker");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let Some(report) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WALK-REPORT "))
        .map(|r| serde_json::from_str::<Value>(r).expect("WALK-REPORT is JSON"))
    else {
        panic!(
            "the walker over {} gave no report ({}):\n{stdout}\n{}",
            transport.name(),
            out.status,
            stderr
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    };
    let client = report["client"].as_str().unwrap_or("?").to_owned();
    let mut problems: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} [{}]: {}",
                p["tool"].as_str().unwrap_or("?"),
                p["case"].as_str().unwrap_or("?"),
                one_line(p["problem"].as_str().unwrap_or("?"))
            )
        })
        .collect();

    // Both walks also read every resource and template and got every prompt.
    {
        let b = &report["beyond"];
        for (what, want) in [("resources", 11), ("templates", 5), ("prompts", 5)] {
            if b[what].as_u64() != Some(want) {
                problems.push(format!("walk: {what}: read {}, expected {want}", b[what]));
            }
        }
    }

    // The walk covered everything: every served tool, every derived case.
    let expected = expected_cases();
    let listed = report["tools_listed"].as_u64().unwrap_or(0);
    if listed != catalogue().len() as u64 {
        problems.push(format!(
            "walk: the client listed {listed} tools, capsule-mcp serves {}",
            catalogue().len()
        ));
    } else {
        for (what, got, want) in [
            ("calls", report["calls"].as_u64(), expected.calls),
            (
                "error cases",
                report["errors_checked"].as_u64(),
                expected.errors,
            ),
        ] {
            if got != Some(want) {
                problems.push(format!(
                    "walk: made {got:?} {what}, the case rules give {want}"
                ));
            }
        }
    }
    // Dry runs stay dry: the sandbox saw no write but the not-found ones (ids that do not exist).
    let writes = sandbox_writes(&sb).await;
    let total_writes: u64 = writes.values().sum();
    if total_writes > expected.write_not_found {
        problems.push(format!(
            "sandbox: {total_writes} write requests {writes:?}, more than the \
             {} not-found writes: a dry run reached Capsule",
            expected.write_not_found
        ));
    }

    match stdout.lines().find(|l| l.starts_with("WALK-SUMMARY ")) {
        Some(line) => say(&format!("{line} sandbox_writes={total_writes}")),
        None => say(&format!("WALK-SUMMARY client={client} (no summary line)")),
    }
    if !problems.is_empty() {
        panic!(
            "{client} over {}: {} problems (tools listed {listed}, calls {}, error cases {})\n\
             by kind:\n  {}\nevery one:\n  {}",
            transport.name(),
            problems.len(),
            report["calls"],
            report["errors_checked"],
            kinds(&problems).join("\n  "),
            problems.join("\n  ")
        );
    }
}

#[tokio::test]
async fn typescript_sdk_1_32_over_stdio() {
    walk(Walker::TypeScript("sdk"), Transport::Stdio).await;
}

#[tokio::test]
async fn typescript_sdk_1_32_over_http() {
    walk(Walker::TypeScript("sdk"), Transport::Http).await;
}

#[tokio::test]
async fn typescript_sdk_1_32_over_stateless_http() {
    walk(Walker::TypeScript("sdk"), Transport::Stateless).await;
}

#[tokio::test]
async fn typescript_sdk_1_24_over_stdio() {
    walk(Walker::TypeScript("sdk-1.24"), Transport::Stdio).await;
}

#[tokio::test]
async fn typescript_sdk_1_24_over_http() {
    walk(Walker::TypeScript("sdk-1.24"), Transport::Http).await;
}

#[tokio::test]
async fn typescript_sdk_1_24_over_stateless_http() {
    walk(Walker::TypeScript("sdk-1.24"), Transport::Stateless).await;
}

#[tokio::test]
async fn python_sdk_legacy_over_stdio() {
    walk(Walker::Python("legacy"), Transport::Stdio).await;
}

#[tokio::test]
async fn python_sdk_legacy_over_http() {
    walk(Walker::Python("legacy"), Transport::Http).await;
}

#[tokio::test]
async fn python_sdk_legacy_over_stateless_http() {
    walk(Walker::Python("legacy"), Transport::Stateless).await;
}

#[tokio::test]
async fn python_sdk_auto_over_stdio() {
    walk(Walker::Python("auto"), Transport::Stdio).await;
}

#[tokio::test]
async fn python_sdk_auto_over_http() {
    walk(Walker::Python("auto"), Transport::Http).await;
}

#[tokio::test]
async fn python_sdk_auto_over_stateless_http() {
    walk(Walker::Python("auto"), Transport::Stateless).await;
}

// --- The official conformance suite, every server scenario.

/// Scenarios that must pass (over stateful HTTP; over stateless HTTP less the SSE one).
const MUST_PASS: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
    "resources-list",
    "prompts-list",
    "logging-set-level",
];

/// Scenarios that cannot apply to capsule-mcp, with the reason; their outcome is only shown.
const CANNOT_APPLY: &[(&str, &str)] = &[
    (
        "tools-call-simple-text",
        "calls the suite's fixture tool test_simple_text",
    ),
    (
        "tools-call-image",
        "calls the suite's fixture tool test_image_content",
    ),
    (
        "tools-call-audio",
        "calls the suite's fixture tool test_audio_content",
    ),
    (
        "tools-call-embedded-resource",
        "calls the suite's fixture tool test_embedded_resource",
    ),
    (
        "tools-call-mixed-content",
        "calls the suite's fixture tool test_multiple_content_types",
    ),
    (
        "tools-call-with-logging",
        "calls the suite's fixture tool test_tool_with_logging (after logging/setLevel)",
    ),
    (
        "tools-call-error",
        "calls the suite's fixture tool test_error_handling",
    ),
    (
        "tools-call-with-progress",
        "calls the suite's fixture tool test_tool_with_progress",
    ),
    (
        "tools-call-sampling",
        "calls the suite's fixture tool test_sampling",
    ),
    (
        "tools-call-elicitation",
        "calls the suite's fixture tool test_elicitation",
    ),
    (
        "json-schema-2020-12",
        "looks for the suite's fixture tool json_schema_2020_12_tool",
    ),
    (
        "elicitation-sep1034-defaults",
        "calls the suite's fixture tool test_elicitation_sep1034_defaults",
    ),
    (
        "elicitation-sep1330-enums",
        "calls the suite's fixture tool test_elicitation_sep1330_enums",
    ),
    (
        "server-sse-polling",
        "a pending scenario of the suite (not in its active set): SSE resumption with \
         Last-Event-ID, which capsule-mcp does not promise",
    ),
    (
        "completion-complete",
        "completes an argument of the suite's fixture prompt test_prompt_with_arguments (an \
         unknown prompt is -32602, as the spec asks)",
    ),
    (
        "resources-read-text",
        "reads the suite's fixture resource test://static-text",
    ),
    (
        "resources-read-binary",
        "reads the suite's fixture resource test://static-binary",
    ),
    (
        "resources-templates-read",
        "reads the suite's fixture template test://template/{id}/data",
    ),
    (
        "prompts-get-simple",
        "gets the suite's fixture prompt test_simple_prompt",
    ),
    (
        "prompts-get-with-args",
        "gets the suite's fixture prompt test_prompt_with_arguments",
    ),
    (
        "prompts-get-embedded-resource",
        "gets the suite's fixture prompt test_prompt_with_embedded_resource",
    ),
    (
        "prompts-get-with-image",
        "gets the suite's fixture prompt test_prompt_with_image",
    ),
];

/// Scenarios that fail until a later issue serves what they need; the test checks they still
/// fail, so when one starts passing it is moved to MUST_PASS.
const EXPECTED_TO_FAIL_UNTIL: &[(&str, &str)] = &[
    ("resources-subscribe", "resource subscriptions are served"),
    ("resources-unsubscribe", "resource subscriptions are served"),
];

/// Over stateless HTTP there is no session and no SSE stream: the scenario runs no check.
const NOT_STATELESS: &[&str] = &["server-sse-multiple-streams"];

/// The failed checks of one scenario, from the suite's `checks.json` in `out`.
fn failed_checks(out: &Path, scenario: &str) -> Vec<String> {
    let prefix = format!("server-{scenario}-20");
    let mut found = Vec::new();
    for dir in std::fs::read_dir(out).into_iter().flatten().flatten() {
        if !dir.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.path().join("checks.json")) else {
            continue;
        };
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        for c in checks {
            if matches!(c["status"].as_str(), Some("FAILURE" | "WARNING")) {
                found.push(format!(
                    "{} {}: {}",
                    c["status"].as_str().unwrap_or("?"),
                    c["name"].as_str().unwrap_or("?"),
                    one_line(
                        c["errorMessage"]
                            .as_str()
                            .or(c["description"].as_str())
                            .unwrap_or("")
                    )
                ));
            }
        }
    }
    found
}

async fn conformance(stateless: bool) {
    setup();
    let sb = sandbox().await;
    let extra: &[&str] = if stateless { &["--stateless"] } else { &[] };
    let mode = if stateless {
        "stateless HTTP"
    } else {
        "stateful HTTP"
    };
    let (_server, url) = http_server(&sb, extra, &[]).await;
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = client_command("node", &sb);
    cmd.args([
        "node_modules/@modelcontextprotocol/conformance/dist/index.js",
        "server",
    ])
    .args(["--url", &url, "--suite", "all", "-o"])
    .arg(out_dir.path());
    let out = tokio::time::timeout(WALK_TIMEOUT, cmd.output())
        .await
        .expect("the conformance suite hung")
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout);

    // "✓ ping: 1 passed, 0 failed" / "✗ tools-list: 0 passed, 1 failed"
    let mut results: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("✓ ").or_else(|| line.strip_prefix("✗ ")) else {
            continue;
        };
        let Some((name, counts)) = rest.split_once(": ") else {
            continue;
        };
        let nums: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [passed, failed] = nums[..] {
            results.insert(name.to_owned(), (passed, failed));
        }
    }
    let total = stdout
        .lines()
        .find(|l| l.starts_with("Total: "))
        .unwrap_or("Total: (no summary line)");
    say(&format!("conformance 0.1.13 over {mode}: {total}"));
    assert!(
        !results.is_empty(),
        "the conformance suite printed no scenario results ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let must_pass: Vec<&str> = MUST_PASS
        .iter()
        .copied()
        .filter(|s| !(stateless && NOT_STATELESS.contains(s)))
        .collect();
    let mut problems = Vec::new();
    let known: BTreeSet<&str> = MUST_PASS
        .iter()
        .copied()
        .chain(CANNOT_APPLY.iter().map(|(s, _)| *s))
        .chain(EXPECTED_TO_FAIL_UNTIL.iter().map(|(s, _)| *s))
        .collect();
    for name in results.keys() {
        if !known.contains(name.as_str()) {
            problems.push(format!(
                "{name}: a scenario this test does not classify (new in the suite?)"
            ));
        }
    }
    for name in &known {
        if !results.contains_key(*name) {
            problems.push(format!("{name}: did not run"));
        }
    }
    for name in &must_pass {
        if let Some(&(passed, failed)) = results.get(*name)
            && (failed > 0 || passed == 0)
        {
            problems.push(format!(
                "{name}: must pass, got {passed} passed, {failed} failed: {}",
                failed_checks(out_dir.path(), name).join("; ")
            ));
        }
    }
    for (name, until) in EXPECTED_TO_FAIL_UNTIL {
        if let Some(&(passed, 0)) = results.get(*name) {
            problems.push(format!(
                "{name}: expected to fail until {until}, but passed ({passed} checks): move it \
                 to MUST_PASS"
            ));
        }
    }
    for (name, why) in
        CANNOT_APPLY
            .iter()
            .copied()
            .chain(NOT_STATELESS.iter().filter(|_| stateless).map(|s| {
                (
                    *s,
                    "stateless HTTP has no session and no SSE stream (the scenario runs no check)",
                )
            }))
    {
        if let Some((p, f)) = results.get(name) {
            say(&format!(
                "  conformance {name}: {p} passed, {f} failed (cannot apply: {why})"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "conformance 0.1.13 over {mode} ({total}):\n  {}",
        problems.join("\n  ")
    );
}

#[tokio::test]
async fn conformance_suite_over_stateful_http() {
    conformance(false).await;
}

#[tokio::test]
async fn conformance_suite_over_stateless_http() {
    conformance(true).await;
}

// --- The MCP Inspector CLI (the full @modelcontextprotocol/inspector 1.0.3: its inspector-cli
// package alone does not start).

async fn inspector(sb: &Sandbox, target: &[&str], method: &[&str]) -> Value {
    let mut cmd = client_command("node", sb);
    cmd.arg("node_modules/.bin/mcp-inspector")
        .arg("--cli")
        .args(target)
        .args(["--method"])
        .args(method);
    let out = tokio::time::timeout(WALK_TIMEOUT, cmd.output())
        .await
        .expect("the Inspector hung")
        .expect("run the Inspector");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Inspector CLI {} --method {} failed ({}):\n{}\n{}",
        target.join(" "),
        method.join(" "),
        out.status,
        stdout.trim(),
        stderr.trim()
    );
    // The JSON result follows the deprecation banner.
    let start = stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in: {stdout}"));
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn assert_inspector_lists_every_tool(list: &Value, how: &str) {
    let names: BTreeSet<&str> = list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{how}: no tools in {list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let served: BTreeSet<&str> = catalogue()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, served, "{how}: tools/list");
    say(&format!(
        "inspector-cli@1.0.3 {how}: tools/list {} tools",
        names.len()
    ));
}

#[tokio::test]
async fn inspector_cli_over_stdio() {
    setup();
    let sb = sandbox().await;
    let api = format!("CAPSULE_API_URL={}", sb.api_url());
    let token = format!("CAPSULE_ACCESS_TOKEN={ADMIN_TOKEN}");
    let target = ["-e", &api, "-e", &token, BIN, "stdio"];
    let list = inspector(&sb, &target, &["tools/list"]).await;
    assert_inspector_lists_every_tool(&list, "over stdio");
    let me = inspector(
        &sb,
        &target,
        &[
            "tools/call",
            "--tool-name",
            "crm_get_user",
            "--tool-arg",
            "id=me",
        ],
    )
    .await;
    assert_ne!(me["isError"], true, "crm_get_user id=me: {me}");
    assert_eq!(
        me["structuredContent"]["username"], "ted",
        "crm_get_user id=me: {me}"
    );
    say("inspector-cli@1.0.3 over stdio: tools/call crm_get_user id=me ok");
}

#[tokio::test]
async fn inspector_cli_over_http() {
    setup();
    let sb = sandbox().await;
    let (_server, url) = http_server(&sb, &[], &[]).await;
    let target = [url.as_str(), "--transport", "http"];
    let list = inspector(&sb, &target, &["tools/list"]).await;
    assert_inspector_lists_every_tool(&list, "over HTTP");
    let one = inspector(
        &sb,
        &target,
        &[
            "tools/call",
            "--tool-name",
            "crm_list_contacts",
            "--tool-arg",
            "limit=1",
        ],
    )
    .await;
    assert_ne!(one["isError"], true, "crm_list_contacts limit=1: {one}");
    assert_eq!(
        one["structuredContent"]["result_count"], 1,
        "crm_list_contacts limit=1: {one}"
    );
    say("inspector-cli@1.0.3 over HTTP: tools/call crm_list_contacts limit=1 ok");
}

// --- The setup script itself.

#[test]
fn setup_fails_loudly_when_node_npm_or_python_is_missing() {
    let script = clients_dir().join("setup");
    // An empty PATH: none of the three.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("/bin/bash")
        .arg(&script)
        .env_clear()
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "setup succeeded without node, npm, python3"
    );
    for tool in ["node", "npm", "python3"] {
        assert!(
            stderr.contains(tool),
            "setup's error does not name {tool}: {stderr}"
        );
    }
    // node and npm present, python3 missing.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["node", "npm"] {
        let real = which(tool).unwrap_or_else(|| panic!("{tool} is on PATH for the tests"));
        std::os::unix::fs::symlink(real, bin.path().join(tool)).unwrap();
    }
    let out = std::process::Command::new("/bin/bash")
        .arg(&script)
        .env_clear()
        .env("PATH", bin.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "setup succeeded without python3");
    assert!(
        stderr.contains("missing python3"),
        "setup's error does not say python3 is missing: {stderr}"
    );
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}
