//! MCP beyond tools, through a real rmcp client over stdio against the sandbox: resources,
//! prompts, completions, logging and confirmed deletes (issue 13).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(deprecated)] // MCP logging is deprecated by SEP-2577; handshake-era clients still use it.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
};

use capsule_mcp::sandbox::Sandbox;
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
        GetPromptRequestParams, Implementation, LoggingLevel, LoggingMessageNotificationParam,
        ReadResourceRequestParams, ResourceContents, SetLevelRequestParams,
    },
    service::{NotificationContext, RequestContext, RunningService},
    transport::TokioChildProcess,
};
use serde_json::{Value, json};

use super::common::*;

/// A client that answers elicitations as told and records log notifications.
#[derive(Clone)]
struct Person {
    answer: Option<ElicitationAction>,
    asked: Arc<Mutex<Vec<String>>>,
    logs: Arc<Mutex<Vec<LoggingMessageNotificationParam>>>,
}

impl Person {
    fn new(answer: Option<ElicitationAction>) -> Self {
        Self {
            answer,
            asked: Arc::default(),
            logs: Arc::default(),
        }
    }
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        let caps: ClientCapabilities = if self.answer.is_some() {
            serde_json::from_value(json!({"elicitation": {"form": {}}})).unwrap()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("beyond-test", "1"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request {
            self.asked.lock().unwrap().push(message.clone());
        }
        let action = self.answer.clone().unwrap_or(ElicitationAction::Decline);
        let mut r = ElicitResult::new(action.clone());
        if matches!(action, ElicitationAction::Accept) {
            r = r.with_content(json!({"confirm": true}));
        }
        Ok(r)
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().unwrap().push(params);
    }
}

async fn client_as(
    sb: &Sandbox,
    person: Person,
    extra: &[&str],
) -> RunningService<RoleClient, Person> {
    let mut args = vec!["stdio"];
    args.extend_from_slice(extra);
    let (transport, _stderr) = TokioChildProcess::builder(command(sb, &args))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    person.serve(transport).await.unwrap()
}

fn text_of(c: &ResourceContents) -> (String, Option<String>, String) {
    match c {
        ResourceContents::TextResourceContents {
            uri,
            mime_type,
            text,
            ..
        } => (uri.clone(), mime_type.clone(), text.clone()),
        other => panic!("not text: {other:?}"),
    }
}

async fn read(client: &rmcp::Peer<RoleClient>, uri: &str) -> Value {
    let r = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(r.contents.len(), 1);
    let (got_uri, mime, text) = text_of(&r.contents[0]);
    assert_eq!(got_uri, uri);
    assert_eq!(mime.as_deref(), Some("application/json"));
    serde_json::from_str(&text).unwrap()
}

async fn first_id(client: &rmcp::Peer<RoleClient>, tool: &str) -> String {
    let list = ok(client, tool, json!({"limit": 1})).await;
    ids(&list)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{tool} is empty"))
}

const RECORDS: &[(&str, &str, &str)] = &[
    ("contacts", "crm_get_contact", "crm_list_contacts"),
    ("accounts", "crm_get_account", "crm_list_accounts"),
    (
        "opportunities",
        "crm_get_opportunity",
        "crm_list_opportunities",
    ),
    ("projects", "crm_get_project", "crm_list_projects"),
    ("tasks", "crm_get_task", "crm_list_tasks"),
];

#[tokio::test]
async fn each_record_template_reads_like_its_get_tool_with_as_many_capsule_requests() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(None), &[]).await;
    let templates: Vec<String> = c
        .list_all_resource_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template)
        .collect();
    for (collection, get, list) in RECORDS {
        let uri_t = format!("capsule://{collection}/{{id}}");
        assert!(templates.contains(&uri_t), "{uri_t} in {templates:?}");
        let id = first_id(&c, list).await;
        let before = total_requests(&sb).await;
        let via_tool = ok(&c, get, json!({"id": id})).await;
        let tool_requests = total_requests(&sb).await - before;
        let before = total_requests(&sb).await;
        let via_resource = read(&c, &format!("capsule://{collection}/{id}")).await;
        let resource_requests = total_requests(&sb).await - before;
        assert_eq!(via_resource, via_tool, "{collection}/{id}");
        assert!(resource_requests >= 1, "{collection}: read from Capsule");
        assert!(
            resource_requests <= tool_requests,
            "{collection}: {resource_requests} requests for the resource, {tool_requests} for the tool"
        );
    }
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn concrete_reference_resources_read_and_are_cached() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(None), &[]).await;
    let uris: Vec<String> = c
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri)
        .collect();
    for want in [
        "capsule://pipelines",
        "capsule://fields/contact",
        "capsule://fields/account",
        "capsule://fields/opportunity",
        "capsule://fields/project",
        "capsule://users",
        "capsule://tags/contact",
        "capsule://tags/account",
        "capsule://tags/opportunity",
        "capsule://tags/project",
        "capsule://me",
    ] {
        assert!(uris.iter().any(|u| u == want), "{want} in {uris:?}");
    }
    for uri in &uris {
        let v = read(&c, uri).await;
        if uri.starts_with("capsule://tags/") {
            assert!(v["tags"].is_array(), "{uri}: {v}");
        } else if uri == "capsule://me" {
            assert!(v["id"].is_string(), "{uri}: {v}");
        } else {
            assert!(v["result"].is_array(), "{uri}: {v}");
        }
    }
    let pipelines = read(&c, "capsule://pipelines").await;
    assert!(
        pipelines["result"][0]["stages"].is_array(),
        "pipelines come with their stages: {pipelines}"
    );
    // Reference data is cached: a second round of reads asks Capsule nothing.
    let before = total_requests(&sb).await;
    for uri in uris
        .iter()
        .filter(|u| u.contains("/tags/") || u.ends_with("pipelines"))
    {
        read(&c, uri).await;
    }
    assert_eq!(total_requests(&sb).await, before, "cached reference data");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn an_unknown_id_is_resource_not_found_saying_where_ids_come_from() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(None), &[]).await;
    for uri in ["capsule://contacts/999999", "capsule://contacts/abc"] {
        let e = c
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .expect_err(uri);
        let s = format!("{e:?}");
        assert!(s.contains("-32002"), "{uri}: {s}");
        assert!(s.contains("crm_list_contacts"), "{uri}: {s}");
    }
    let e = c
        .read_resource(ReadResourceRequestParams::new("capsule://nothing/1"))
        .await
        .expect_err("unknown collection");
    assert!(format!("{e:?}").contains("-32002"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn toolsets_and_read_only_apply_to_resources_and_prompts() {
    let sb = sandbox().await;
    let c = client_as(
        &sb,
        Person::new(None),
        &["--toolsets", "contacts", "--read-only"],
    )
    .await;
    let templates: Vec<String> = c
        .list_all_resource_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template)
        .collect();
    assert_eq!(templates, ["capsule://contacts/{id}"]);
    let uris: Vec<String> = c
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(uris, ["capsule://tags/contact"]);
    let e = c
        .read_resource(ReadResourceRequestParams::new("capsule://accounts/1"))
        .await
        .expect_err("accounts are not served");
    assert!(format!("{e:?}").contains("-32002"));
    let prompts = c.list_all_prompts().await.unwrap();
    assert!(prompts.is_empty(), "{prompts:?}");
    c.cancel().await.unwrap();
}

fn tool_names_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')) {
        if w.starts_with("crm_") {
            out.push(w.to_owned());
        }
    }
    out
}

#[tokio::test]
async fn every_prompt_names_served_tools_and_embeds_the_records_it_fetched() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(None), &[]).await;
    let tools: Vec<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let contact = first_id(&c, "crm_list_contacts").await;
    let account = first_id(&c, "crm_list_accounts").await;
    let opportunity = first_id(&c, "crm_list_opportunities").await;
    let contact_rec = ok(&c, "crm_get_contact", json!({"id": contact})).await;
    let email = contact_rec["email_addresses"][0]["email"]
        .as_str()
        .map(str::to_owned);
    let cases = [
        (
            "log_call",
            json!({"contact": contact, "summary": "Agreed a demo"}),
            "contacts",
            contact.clone(),
        ),
        (
            "prepare_meeting",
            json!({"account": account}),
            "accounts",
            account.clone(),
        ),
        (
            "close_deal",
            json!({"opportunity": format!("Some deal (#{opportunity})"), "outcome": "lost", "reason": "price"}),
            "opportunities",
            opportunity.clone(),
        ),
        (
            "onboard_won_deal",
            json!({"opportunity": opportunity}),
            "opportunities",
            opportunity.clone(),
        ),
    ];
    let listed: Vec<String> = c
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        listed,
        [
            "log_call",
            "prepare_meeting",
            "close_deal",
            "onboard_won_deal",
            "enrich_ticket"
        ]
    );
    let mut all = cases.to_vec();
    if let Some(email) = &email {
        all.push((
            "enrich_ticket",
            json!({"email": email}),
            "contacts",
            contact.clone(),
        ));
    }
    assert!(email.is_some(), "the first sandbox contact has an email");
    for (name, args, collection, id) in all {
        let r = c
            .get_prompt(
                GetPromptRequestParams::new(name)
                    .with_arguments(args.as_object().cloned().unwrap()),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = serde_json::to_value(&r).unwrap();
        let text = v["messages"][0]["content"]["text"].as_str().unwrap();
        let named = tool_names_in(text);
        assert!(!named.is_empty(), "{name}: names tools");
        for t in &named {
            assert!(tools.contains(t), "{name} names {t}, which is not served");
        }
        let uri = format!("capsule://{collection}/{id}");
        let embedded = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["content"]["resource"]["uri"] == uri.as_str())
            .unwrap_or_else(|| panic!("{name} embeds {uri}: {v}"));
        let record: Value =
            serde_json::from_str(embedded["content"]["resource"]["text"].as_str().unwrap())
                .unwrap();
        let get = format!(
            "crm_get_{}",
            match collection {
                "contacts" => "contact",
                "accounts" => "account",
                _ => "opportunity",
            }
        );
        assert_eq!(
            record,
            ok(&c, &get, json!({"id": id})).await,
            "{name}: the record fetched"
        );
        assert!(text.contains(&id), "{name}: the text names the record id");
    }
    let e = c
        .get_prompt(GetPromptRequestParams::new("log_call"))
        .await
        .expect_err("missing arguments");
    assert!(format!("{e:?}").contains("contact"), "{e:?}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn completions_come_from_one_cached_search_and_the_reference_data() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(None), &[]).await;
    let contact = first_id(&c, "crm_list_contacts").await;
    let rec = ok(&c, "crm_get_contact", json!({"id": contact})).await;
    let name = capsule_mcp::unified::title_of(&rec).unwrap();
    let prefix: String = name.chars().take(3).collect();
    let before = total_requests(&sb).await;
    let info = c
        .complete_prompt_argument("log_call", "contact", prefix.clone(), None)
        .await
        .unwrap();
    let first = total_requests(&sb).await - before;
    assert!(
        info.values.contains(&format!("{name} (#{contact})")),
        "{prefix}: {:?}",
        info.values
    );
    assert!(info.values.len() <= 100);
    assert!(first >= 1, "one Capsule search");
    let before = total_requests(&sb).await;
    let again = c
        .complete_prompt_argument("log_call", "contact", prefix.clone(), None)
        .await
        .unwrap();
    assert_eq!(again.values, info.values);
    assert_eq!(total_requests(&sb).await, before, "the search is cached");
    // Template variables complete to ids.
    let ids = c
        .complete_resource_argument("capsule://contacts/{id}", "id", prefix, None)
        .await
        .unwrap();
    assert!(ids.values.contains(&contact), "{:?}", ids.values);
    // Fixed and reference values.
    let outcome = c
        .complete_prompt_argument("close_deal", "outcome", "w", None)
        .await
        .unwrap();
    assert_eq!(outcome.values, ["won"]);
    let users = ok(&c, "crm_list_users", json!({})).await;
    let user = users["result"][0]["name"].as_str().unwrap().to_owned();
    let owners = c
        .complete_prompt_argument("onboard_won_deal", "owner", "", None)
        .await
        .unwrap();
    assert!(owners.values.contains(&user), "{:?}", owners.values);
    let e = c
        .complete_prompt_argument("no_such_prompt", "x", "", None)
        .await
        .expect_err("unknown prompt");
    assert!(format!("{e:?}").contains("-32602"), "{e:?}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn tool_calls_are_logged_to_the_client_at_its_level() {
    let sb = sandbox().await;
    let person = Person::new(None);
    let logs = person.logs.clone();
    let c = client_as(&sb, person, &[]).await;
    ok(&c, "crm_list_users", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        logs.lock().unwrap().is_empty(),
        "nothing before logging/setLevel"
    );
    c.set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .unwrap();
    let before = total_requests(&sb).await;
    ok(&c, "crm_list_contacts", json!({"limit": 2})).await;
    let made = total_requests(&sb).await - before;
    err(&c, "crm_get_contact", json!({"id": "999999"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    {
        let got = logs.lock().unwrap().clone();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].data["tool"], "crm_list_contacts");
        assert_eq!(got[0].data["outcome"], "ok");
        assert_eq!(got[0].data["capsule_requests"], made);
        assert!(got[0].data["duration_ms"].is_u64());
        assert_eq!(got[1].data["outcome"], "error");
        assert!(!format!("{got:?}").contains(capsule_mcp::sandbox::ADMIN_TOKEN));
    }
    c.set_level(SetLevelRequestParams::new(LoggingLevel::Error))
        .await
        .unwrap();
    ok(&c, "crm_list_users", json!({})).await;
    err(&c, "crm_get_contact", json!({"id": "999999"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(logs.lock().unwrap().len(), 2, "above the level: not sent");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_declined_delete_sends_nothing_to_capsule() {
    let sb = sandbox().await;
    let person = Person::new(Some(ElicitationAction::Decline));
    let asked = person.asked.clone();
    let c = client_as(&sb, person, &[]).await;
    let id = first_id(&c, "crm_list_contacts").await;
    let rec = ok(&c, "crm_get_contact", json!({"id": id})).await;
    let name = capsule_mcp::unified::title_of(&rec).unwrap();
    let deletes_before = requests(&sb, "DELETE /parties/{id}").await;
    let e = err(&c, "crm_delete_contact", json!({"id": id})).await;
    assert_eq!(e["code"], "not_confirmed", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("nothing was deleted")
    );
    assert_eq!(requests(&sb, "DELETE /parties/{id}").await, deletes_before);
    let msg = asked.lock().unwrap().clone();
    assert_eq!(msg.len(), 1);
    assert!(
        // The question names the record and what Capsule deletes with it.
        msg[0].contains(&name) && msg[0].contains("with its notes, tasks"),
        "{msg:?}"
    );
    ok(&c, "crm_get_contact", json!({"id": id})).await;
    // dry_run never asks.
    ok(&c, "crm_delete_contact", json!({"id": id, "dry_run": true})).await;
    assert_eq!(asked.lock().unwrap().len(), 1);
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn an_accepted_delete_deletes_and_without_elicitation_nothing_asks() {
    let sb = sandbox().await;
    let c = client_as(&sb, Person::new(Some(ElicitationAction::Accept)), &[]).await;
    let list = ok(&c, "crm_list_contacts", json!({"limit": 3})).await;
    let ids = ids(&list);
    ok(&c, "crm_delete_contact", json!({"id": ids[0]})).await;
    err(&c, "crm_get_contact", json!({"id": ids[0]})).await;
    c.cancel().await.unwrap();
    // A client without elicitation: the delete goes straight to Capsule, as before.
    let person = Person::new(None);
    let asked = person.asked.clone();
    let c = client_as(&sb, person, &[]).await;
    ok(&c, "crm_delete_contact", json!({"id": ids[1]})).await;
    assert!(asked.lock().unwrap().is_empty());
    err(&c, "crm_get_contact", json!({"id": ids[1]})).await;
    c.cancel().await.unwrap();
}
