//! The agent jobs of issue 12 ("Done when"), done by a real MCP client: `tests/clients/ts_jobs.mjs`
//! drives the official TypeScript SDK 1.32.2 over stdio against the real binary on the sandbox,
//! with the unified tools alone. Each test runs one job on a fresh sandbox (cold caches, so the
//! counts are what a first call costs), then asserts from the runner's JOB line and from the
//! sandbox itself: the request counts of `/_sandbox/stats` (taken here, before and after the
//! runner, and compared with the runner's own delta) and the result against the sandbox's data
//! read independently through its HTTP API with the admin token, never through the MCP server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::BTreeMap, collections::BTreeSet, time::Duration};

use capsule_mcp::sandbox::{ADMIN_TOKEN, Sandbox};
use serde_json::Value;

use super::common::*;
use super::real_clients::{client_command, say, setup};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

type Counts = BTreeMap<String, u64>;

fn counts(v: &Value) -> Counts {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default()
}

async fn all_counts(sb: &Sandbox) -> Counts {
    counts(&stats(sb).await["requests"])
}

fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn set<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> BTreeSet<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// What one job did: the runner's line, and the sandbox's request counts over the runner.
struct Done {
    sb: Sandbox,
    line: Value,
    cost: Counts,
}

impl Done {
    fn facts(&self) -> &Value {
        &self.line["facts"]
    }

    /// The calls made to `tool`, in order.
    fn calls(&self, tool: &str) -> Vec<&Value> {
        self.line["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["tool"] == tool)
            .collect()
    }

    fn total(&self) -> u64 {
        self.cost.values().sum()
    }

    fn on(&self, route: &str) -> u64 {
        self.cost.get(route).copied().unwrap_or(0)
    }

    /// Asserts that every request but those of `work` read reference data (field definitions,
    /// tags, activity types, pipelines and stages, users, the site), which the server caches.
    fn rest_is_reference_data(&self, work: &[&str]) {
        const REFERENCE: [&str; 8] = [
            "/fields/definitions",
            "/tags",
            "/activitytypes",
            "/pipelines",
            "/milestones",
            "/users",
            "/site",
            "/boards",
        ];
        for route in self.cost.keys() {
            if work.contains(&route.as_str()) {
                continue;
            }
            assert!(
                route.starts_with("GET ") && REFERENCE.iter().any(|r| route.contains(r)),
                "{}: {route} is neither the job's work {work:?} nor reference data: {:?}",
                self.line["job"],
                self.cost
            );
        }
    }
}

/// Runs one job of `ts_jobs.mjs` against the real binary over stdio on a fresh sandbox.
async fn run_job(name: &str) -> Done {
    setup();
    let sb = sandbox().await;
    let before = all_counts(&sb).await;
    let mut cmd = client_command("node", &sb);
    cmd.args(["ts_jobs.mjs", "--sandbox", &sb.base_url(), "--jobs", name])
        .arg("--")
        .arg(BIN)
        .arg("stdio");
    let out = tokio::time::timeout(JOB_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("the {name} job hung"))
        .expect("spawn node ts_jobs.mjs");
    let cost = delta(&before, &all_counts(&sb).await);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("JOB "))
        .map(|l| serde_json::from_str(l).expect("a JOB line is JSON"))
        .unwrap_or_else(|| {
            panic!(
                "ts_jobs.mjs printed no JOB line for {name} ({}):\n{stdout}\n{stderr}",
                out.status
            )
        });
    assert_eq!(line["job"], name);
    say(&format!(
        "JOB {name}: ok={} tool_calls={} capsule_requests={} {:?}",
        line["ok"],
        line["tool_calls"],
        cost.values().sum::<u64>(),
        cost
    ));
    assert_eq!(
        line["problems"],
        Value::Array(vec![]),
        "{name}: the runner saw problems: {line}"
    );
    assert_eq!(line["ok"], true, "{name}: {line}");
    // The unified tools alone.
    for c in line["calls"].as_array().unwrap() {
        let tool = c["tool"].as_str().unwrap();
        assert!(
            tool.starts_with("crm_"),
            "{name}: called {tool}, not a unified tool"
        );
    }
    // The runner's per-job delta is the sandbox's: the client's connect and listTools cost no
    // Capsule request, and nothing else talked to the sandbox meanwhile.
    assert_eq!(
        counts(&line["requests"]),
        cost,
        "{name}: the runner's request delta vs the sandbox's"
    );
    let per_call: u64 = line["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| counts(&c["requests"]).values().sum::<u64>())
        .sum();
    assert_eq!(
        per_call,
        cost.values().sum::<u64>(),
        "{name}: the calls' costs add up"
    );
    Done { sb, line, cost }
}

// --- Ground truth: the sandbox's own HTTP API with the admin token.

async fn api(sb: &Sandbox, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sb.api_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// Every record of a list endpoint, page by page (`key` is the array's name).
async fn api_all(sb: &Sandbox, path: &str, key: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut all = vec![];
    for page in 1.. {
        let resp = reqwest::Client::new()
            .get(format!(
                "{}{path}{sep}perPage=100&page={page}",
                sb.api_url()
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        let more = resp
            .headers()
            .get("x-pagination-has-more")
            .is_some_and(|v| v == "true");
        let body: Value = resp.json().await.unwrap();
        all.extend(body[key].as_array().unwrap().iter().cloned());
        if !more {
            break;
        }
    }
    all
}

fn id_of(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not an id: {other}"),
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

// --- 1. Helpdesk.

#[tokio::test]
async fn helpdesk_finds_the_customer_by_email_and_tasks_the_account_owner() {
    let done = run_job("helpdesk").await;
    let f = done.facts();
    let email = f["email"].as_str().unwrap();
    // Ground truth: the parties holding that address, and the owner of the contact's account.
    let holders: BTreeSet<String> = api_all(&done.sb, "/parties", "parties")
        .await
        .iter()
        .filter(|p| {
            p["emailAddresses"].as_array().unwrap().iter().any(|e| {
                e["address"]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(email))
            })
        })
        .map(|p| id_of(&p["id"]))
        .collect();
    assert_eq!(holders, set(["128"]), "the seed: Farid Khan's home address");
    assert_eq!(set(strs(&f["contact_ids"])), holders, "exactly the holder");
    let contact = api(&done.sb, "/parties/128").await;
    let account_id = id_of(&contact["party"]["organisation"]["id"]);
    let account = api(&done.sb, &format!("/parties/{account_id}")).await;
    let owner = id_of(&account["party"]["owner"]["id"]);
    assert_eq!(f["account_id"], account_id.as_str());
    assert_eq!(f["account_owner_id"], owner.as_str());
    // The account owner is neither the contact's owner nor the connected user (61), so a task
    // with the default owner or the contact's owner would fail here.
    assert_eq!(owner, "6");
    assert_ne!(id_of(&contact["party"]["owner"]["id"]), owner);
    let task_id = f["task_id"].as_str().unwrap();
    let task = api(&done.sb, &format!("/tasks/{task_id}")).await;
    assert_eq!(id_of(&task["task"]["owner"]["id"]), owner, "{task}");
    assert_eq!(id_of(&task["task"]["party"]["id"]), "128", "{task}");
    assert_eq!(task["task"]["status"], "OPEN");
    // Cost: the lookup is one filter request; the task one POST.
    let lookup = done.calls("crm_list_contacts");
    assert_eq!(lookup.len(), 1);
    let lc = counts(&lookup[0]["requests"]);
    assert_eq!(lc.get("POST /parties/filters/results"), Some(&1), "{lc:?}");
    assert!(!lc.contains_key("GET /parties"), "no list scan: {lc:?}");
    assert_eq!(done.on("POST /tasks"), 1);
    assert_eq!(done.line["tool_calls"], 3);
    done.rest_is_reference_data(&[
        "POST /parties/filters/results",
        "GET /parties/{id}",
        "POST /tasks",
    ]);
    assert!(done.total() <= 5, "{:?}", done.cost);
}

// --- 2. Telephony.

#[tokio::test]
async fn telephony_finds_the_caller_in_six_phone_forms_and_logs_the_call() {
    let done = run_job("telephony").await;
    let f = done.facts();
    // Ground truth: the parties whose stored number is +44 7700 900004 in any spacing.
    let parties = api_all(&done.sb, "/parties", "parties").await;
    let callers: BTreeSet<String> = parties
        .iter()
        .filter(|p| {
            p["phoneNumbers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| digits(n["number"].as_str().unwrap()) == "447700900004")
        })
        .map(|p| id_of(&p["id"]))
        .collect();
    assert_eq!(callers, set(["124"]));
    let lookups = f["lookups"].as_array().unwrap();
    let forms: Vec<&str> = lookups
        .iter()
        .map(|l| l["phone"].as_str().unwrap())
        .collect();
    assert_eq!(
        forms,
        [
            "+447700900004",
            "07700 900004",
            "07700900004",
            "00447700900004",
            "+44 (0)7700 900004",
            "+44-7700-900004"
        ]
    );
    let calls = done.calls("crm_list_contacts");
    assert_eq!(calls.len(), 6);
    for (l, c) in lookups.iter().zip(&calls) {
        assert_eq!(set(strs(&l["ids"])), callers, "{l}");
        let n: u64 = counts(&c["requests"]).values().sum();
        assert!(n <= 2, "{}: {n} requests", l["phone"]);
    }
    // The call, read back from the sandbox itself.
    let id = f["engagement_id"].as_str().unwrap();
    let raw = api(&done.sb, &format!("/entries/{id}")).await;
    let e = &raw["entry"];
    assert_eq!(e["activityType"]["name"], "Call", "{raw}");
    assert_eq!(id_of(&e["party"]["id"]), "124");
    let w = &f["written"];
    assert_eq!(e["entryAt"], w["occurred_at"]);
    let content = e["content"].as_str().unwrap();
    for want in [
        format!("Direction: {}", w["direction"].as_str().unwrap()),
        format!("Duration: {} seconds", w["duration_seconds"]),
        format!("Outcome: {}", w["outcome"].as_str().unwrap()),
        format!("Recording: {}", w["recording_url"].as_str().unwrap()),
    ] {
        assert!(content.contains(&want), "{want} in {content:?}");
    }
    // Read back through the tools (get and list) as written.
    for how in ["get", "list"] {
        let r = &f[how];
        assert_eq!(r["id"], id, "{how}");
        for k in [
            "direction",
            "duration_seconds",
            "outcome",
            "recording_url",
            "occurred_at",
        ] {
            assert_eq!(r[k], w[k], "{how}: {k}");
        }
        assert_eq!(r["content"], f["content"], "{how}");
    }
    assert_eq!(done.on("POST /entries"), 1);
    assert_eq!(done.on("POST /parties/filters/results"), 6);
    // The read-back: one GET of the entry, one list of the contact's entries.
    done.rest_is_reference_data(&[
        "POST /parties/filters/results",
        "POST /entries",
        "GET /entries/{id}",
        "GET /parties/{id}/entries",
    ]);
    assert!(done.total() <= 10, "{:?}", done.cost);
}

// --- 3. Marketing.

#[tokio::test]
async fn marketing_pulls_a_tag_and_custom_field_segment_one_filter_request_a_page() {
    let sb_done = run_job("marketing").await;
    let done = &sb_done;
    let f = done.facts();
    assert_eq!(f["segment"]["tags"], serde_json::json!(["Customer", "VIP"]));
    assert_eq!(f["segment"]["custom_fields"]["Local"], true);
    // Ground truth: organisations tagged Customer and VIP whose Local field is true.
    let truth: BTreeSet<String> = api_all(&done.sb, "/parties?embed=tags,fields", "parties")
        .await
        .iter()
        .filter(|p| p["type"] == "organisation")
        .filter(|p| {
            let tags: BTreeSet<&str> = p["tags"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            tags.contains("Customer") && tags.contains("VIP")
        })
        .filter(|p| {
            p["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["definition"]["name"] == "Local" && v["value"] == true)
        })
        .map(|p| id_of(&p["id"]))
        .collect();
    assert_eq!(truth, set(["104", "108", "116"]), "the seed's segment");
    let members = strs(&f["members"]);
    assert_eq!(members.len(), truth.len(), "no record twice: {members:?}");
    assert_eq!(set(&members), truth, "exactly the segment");
    // One filter request per page (limit 2: two pages), never an unfiltered list.
    let pages = f["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2, "{pages:?}");
    for p in pages {
        let c = counts(&p["requests"]);
        assert_eq!(c.get("POST /parties/filters/results"), Some(&1), "{p}");
    }
    assert_eq!(done.on("POST /parties/filters/results"), 2);
    assert_eq!(done.on("GET /parties"), 0);
    // An engagement written back to each member, found on the record in the sandbox.
    let content = f["content"].as_str().unwrap();
    for id in &members {
        let entries = api(&done.sb, &format!("/parties/{id}/entries")).await;
        let mine: Vec<&Value> = entries["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["content"] == content)
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {entries}");
        assert_eq!(mine[0]["activityType"]["name"], "Meeting", "{id}");
        assert_eq!(mine[0]["entryAt"], "2026-12-01T09:00:00Z", "{id}");
    }
    assert_eq!(done.on("POST /entries"), members.len() as u64);
    done.rest_is_reference_data(&["POST /parties/filters/results", "POST /entries"]);
    assert!(done.total() <= 8, "{:?}", done.cost);
}

// --- 4. Onboarding.

#[tokio::test]
async fn onboarding_finds_deals_won_since_a_date_and_spins_up_a_project_with_tasks() {
    let done = run_job("onboarding").await;
    let f = done.facts();
    let since = f["since"].as_str().unwrap();
    // Ground truth: closed at 100% (won) after the date.
    let truth: BTreeSet<String> = api_all(&done.sb, "/opportunities", "opportunities")
        .await
        .iter()
        .filter(|o| o["probability"] == 100 && o["lostReason"].is_null())
        .filter(|o| o["closedOn"].as_str().is_some_and(|d| d > since))
        .map(|o| id_of(&o["id"]))
        .collect();
    assert_eq!(truth, set(["315", "321", "327"]));
    assert_eq!(
        set(strs(&f["won_ids"])),
        truth,
        "exactly the won-since deals"
    );
    assert_eq!(strs(&f["won_ids"]).len(), truth.len());
    // The won-since list is one filter request; the rest of its cost is reference data.
    let list = done.calls("crm_list_opportunities");
    assert_eq!(list.len(), 1);
    let lc = counts(&list[0]["requests"]);
    assert_eq!(
        lc.get("POST /opportunities/filters/results"),
        Some(&1),
        "{lc:?}"
    );
    for route in lc.keys() {
        assert!(
            route == "POST /opportunities/filters/results"
                || route == "GET /opportunities/fields/definitions"
                || route == "GET /pipelines"
                || route == "GET /pipelines/{id}/milestones",
            "won-since sent {route}: {lc:?}"
        );
    }
    // The project, linked to the deal and on the deal's party, in the sandbox.
    let deal = f["deal_id"].as_str().unwrap();
    assert!(truth.contains(deal));
    let project = f["project_id"].as_str().unwrap();
    let kase = api(&done.sb, &format!("/kases/{project}")).await;
    assert_eq!(id_of(&kase["kase"]["opportunity"]["id"]), deal, "{kase}");
    let opp = api(&done.sb, &format!("/opportunities/{deal}")).await;
    assert_eq!(
        kase["kase"]["party"]["id"], opp["opportunity"]["party"]["id"],
        "{kase}"
    );
    // Its tasks: exactly the three the job made, each on the project.
    let made: BTreeSet<String> = f["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(made.len(), 3);
    let on_project: Vec<Value> = api_all(&done.sb, "/tasks", "tasks")
        .await
        .into_iter()
        .filter(|t| t["kase"]["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(project))
        .collect();
    assert_eq!(
        on_project
            .iter()
            .map(|t| id_of(&t["id"]))
            .collect::<BTreeSet<_>>(),
        made
    );
    for t in &on_project {
        assert!(
            t["dueOn"].is_string() && t["description"].is_string(),
            "{t}"
        );
    }
    assert_eq!(done.on("POST /kases"), 1);
    assert_eq!(done.on("POST /tasks"), 3);
    done.rest_is_reference_data(&[
        "POST /opportunities/filters/results",
        "POST /kases",
        "POST /tasks",
    ]);
    assert!(done.total() <= 9, "{:?}", done.cost);
}

// --- 5. Proposal.

#[tokio::test]
async fn proposal_reads_the_deal_account_and_contacts_then_wins_it_by_stage_name() {
    let done = run_job("proposal").await;
    let f = done.facts();
    let doc = &f["document"];
    assert_eq!(doc["deal"]["id"], "302");
    assert_eq!(doc["account"]["id"], "103");
    assert_eq!(doc["account"]["name"], "Zestia");
    // Ground truth: the account's people.
    let people: BTreeSet<String> = api_all(&done.sb, "/parties", "parties")
        .await
        .iter()
        .filter(|p| p["organisation"]["id"] == 103)
        .map(|p| id_of(&p["id"]))
        .collect();
    assert_eq!(people, set(["141", "160"]));
    let read: BTreeSet<String> = doc["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(read, people, "exactly the account's contacts");
    // Moved by the stage's name, not its id.
    let update = done.calls("crm_update_opportunity");
    assert_eq!(update.len(), 1);
    assert_eq!(update[0]["arguments"]["stage_id"], "Won");
    assert_eq!(f["stage_before"]["name"], "Bid");
    assert_eq!(f["stage_after"]["name"], "Won");
    let opp = api(&done.sb, "/opportunities/302").await;
    assert_eq!(opp["opportunity"]["milestone"]["name"], "Won", "{opp}");
    assert_eq!(
        opp["opportunity"]["milestone"]["id"], 3,
        "Won of its own pipeline"
    );
    assert!(opp["opportunity"]["closedOn"].is_string(), "{opp}");
    // The note, on the deal in the sandbox.
    let entries = api(&done.sb, "/opportunities/302/entries").await;
    let notes: Vec<&Value> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["content"] == f["note_content"])
        .collect();
    assert_eq!(notes.len(), 1, "{entries}");
    assert_eq!(id_of(&notes[0]["id"]), f["note_id"].as_str().unwrap());
    assert_eq!(done.on("PUT /opportunities/{id}"), 1);
    assert_eq!(done.on("POST /entries"), 1);
    // The deal read twice: by the job, and by the update (to know its pipeline).
    assert_eq!(done.on("GET /opportunities/{id}"), 2);
    done.rest_is_reference_data(&[
        "GET /opportunities/{id}",
        "GET /parties/{id}",
        "GET /parties/{id}/people",
        "PUT /opportunities/{id}",
        "POST /entries",
    ]);
    assert!(done.total() <= 12, "{:?}", done.cost);
}
