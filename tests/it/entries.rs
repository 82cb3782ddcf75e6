//! Notes, engagements and engagement types end to end: the real binary over stdio against the
//! sandbox Capsule (seed entries 900-999: notes, calls, meetings, a custom "Demo", emails and
//! completed tasks). Request counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::*;

fn results(list: &Value) -> Vec<Value> {
    list["result"].as_array().unwrap().clone()
}

/// Every entry in the sandbox, raw, through the proxy.
async fn raw_entries(client: &Peer) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1..=3 {
        let r = ok(
            client,
            "capsule_api_request",
            json!({"method": "GET", "path": "/entries",
                   "query": {"perPage": "100", "page": page.to_string()}}),
        )
        .await;
        let items = r["body"]["entries"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        out.extend(items);
    }
    out
}

fn first_of(entries: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    entries.iter().find(|e| pred(e)).expect("a seed entry")
}

#[tokio::test]
async fn lists_notes_with_each_filter_in_one_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = raw_entries(&client).await;

    let before = requests(&sb, "GET /entries").await;
    let page = ok(&client, "crm_list_notes", json!({"limit": 20})).await;
    assert_eq!(requests(&sb, "GET /entries").await, before + 1);
    let notes = results(&page);
    assert!(!notes.is_empty() && notes.len() <= 20);
    assert!(page["next_cursor"].is_string());
    let raw_by_id = |id: &str| {
        all.iter()
            .find(|e| e["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(id))
            .unwrap()
            .clone()
    };
    for n in &notes {
        assert_eq!(raw_by_id(n["id"].as_str().unwrap())["type"], "note");
        assert!(n.get("engagement_type").is_none());
        assert!(n["occurred_at"].is_string() && n["owner"]["id"].is_string());
    }
    let second = ok(
        &client,
        "crm_list_notes",
        json!({"cursor": page["next_cursor"]}),
    )
    .await;
    assert!(ids(&second).iter().all(|id| !ids(&page).contains(id)));

    // A note on a person, on an organisation, on an opportunity, on a project.
    let is_note = |e: &Value| e["type"] == "note";
    let person = first_of(&all, |e| is_note(e) && e["party"]["type"] == "person");
    let org = first_of(&all, |e| is_note(e) && e["party"]["type"] == "organisation");
    let opp = first_of(&all, |e| is_note(e) && e["opportunity"]["id"].is_i64());
    let kase = first_of(&all, |e| is_note(e) && e["kase"]["id"].is_i64());
    let cases = [
        (
            "contact_id",
            person["party"]["id"].to_string(),
            "contact",
            "GET /parties/{id}/entries",
        ),
        (
            "account_id",
            org["party"]["id"].to_string(),
            "account",
            "GET /parties/{id}/entries",
        ),
        (
            "opportunity_id",
            opp["opportunity"]["id"].to_string(),
            "opportunity",
            "GET /opportunities/{id}/entries",
        ),
        (
            "project_id",
            kase["kase"]["id"].to_string(),
            "project",
            "GET /kases/{id}/entries",
        ),
    ];
    for (filter, id, field, route) in cases {
        let before = total_requests(&sb).await;
        let route_before = requests(&sb, route).await;
        let page = ok(&client, "crm_list_notes", json!({filter: id, "limit": 50})).await;
        assert_eq!(requests(&sb, route).await, route_before + 1, "{filter}");
        assert_eq!(
            total_requests(&sb).await,
            before + 1,
            "{filter}: one request"
        );
        let notes = results(&page);
        assert!(!notes.is_empty(), "{filter} {id}");
        for n in &notes {
            assert_eq!(n[field]["id"], id.as_str(), "{filter}: {n}");
        }
    }

    // updated_after is applied to the page.
    let none = ok(
        &client,
        "crm_list_notes",
        json!({"updated_after": "2100-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(none["result_count"], 0);
    let some = ok(
        &client,
        "crm_list_notes",
        json!({"updated_after": "2000-01-01T00:00:00Z", "limit": 20}),
    )
    .await;
    assert_eq!(some["result_count"], page["result_count"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_note_arguments_never_reach_capsule() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    let cases = [
        ("crm_list_notes", json!({"account_id": "100", "limit": 60})),
        (
            "crm_list_notes",
            json!({"account_id": "100", "project_id": "500"}),
        ),
        ("crm_list_notes", json!({"contact_id": "bob"})),
        ("crm_list_notes", json!({"updated_after": "last week"})),
        ("crm_create_note", json!({"content": "Orphan"})),
        (
            "crm_create_note",
            json!({"content": "Two homes", "account_id": "100", "opportunity_id": "300"}),
        ),
        ("crm_create_note", json!({"account_id": "100"})),
        (
            "crm_create_note",
            json!({"content": " ", "account_id": "100"}),
        ),
        (
            "crm_create_note",
            json!({"content": "x", "account_id": "100", "occurred_at": "soon"}),
        ),
        ("crm_update_note", json!({"id": "900"})),
        ("crm_update_note", json!({"id": "note", "content": "x"})),
        ("crm_get_note", json!({"id": "x"})),
    ];
    for (tool, args) in cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
    }
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn note_round_trip() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let contact = ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0].clone();
    let cid = contact["id"].as_str().unwrap().to_owned();

    let plan = ok(
        &client,
        "crm_create_note",
        json!({"content": "Dry", "contact_id": cid, "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["path"], "/entries");
    assert_eq!(
        plan["body"]["entry"],
        json!({"type": "note", "party": {"id": cid.parse::<i64>().unwrap()}, "content": "Dry"})
    );

    let posts = requests(&sb, "POST /entries").await;
    let before = total_requests(&sb).await;
    let created = ok(
        &client,
        "crm_create_note",
        json!({"content": "Called about the renewal", "contact_id": cid,
               "occurred_at": "2025-05-01T10:00:00Z", "activity_type_id": "-3"}),
    )
    .await;
    assert_eq!(requests(&sb, "POST /entries").await, posts + 1);
    assert_eq!(
        total_requests(&sb).await,
        before + 1,
        "a create is one request"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["content"], "Called about the renewal");
    assert_eq!(created["contact"]["id"], cid.as_str());
    assert_eq!(created["contact"]["name"], contact["name"]);
    assert!(created.get("account").is_none());
    assert_eq!(
        created["activity_type"],
        json!({"id": "-3", "name": "Call"})
    );
    assert_eq!(created["occurred_at"], "2025-05-01T10:00:00Z");

    let shows = requests(&sb, "GET /entries/{id}").await;
    let got = ok(&client, "crm_get_note", json!({"id": id})).await;
    assert_eq!(requests(&sb, "GET /entries/{id}").await, shows + 1);
    assert_eq!(got, created);
    let raw = ok(
        &client,
        "crm_get_note",
        json!({"id": id, "include_remote_data": true}),
    )
    .await;
    assert_eq!(raw["remote_data"]["type"], "note");

    let updated = ok(
        &client,
        "crm_update_note",
        json!({"id": id, "content": "Renewal agreed", "activity_type_id": "-1"}),
    )
    .await;
    assert_eq!(updated["content"], "Renewal agreed");
    assert_eq!(updated["activity_type"]["name"], "Note");
    assert_eq!(updated["occurred_at"], "2025-05-01T10:00:00Z", "kept");

    let listed = ok(&client, "crm_list_notes", json!({"contact_id": cid})).await;
    assert!(ids(&listed).contains(&id));

    let deleted = ok(&client, "crm_delete_note", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    let gone = err(&client, "crm_get_note", json!({"id": id})).await;
    assert_eq!(gone["code"], "not_found");
    assert!(gone["message"].as_str().unwrap().contains("crm_list_notes"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn notes_refuse_other_entries() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = raw_entries(&client).await;
    let email = first_of(&all, |e| e["type"] == "email")["id"].to_string();
    let e = err(&client, "crm_get_note", json!({"id": email})).await;
    assert_eq!(e["code"], "not_found");
    assert!(
        e["message"].as_str().unwrap().contains("crm_*_engagement"),
        "{e}"
    );
    let e = err(
        &client,
        "crm_update_note",
        json!({"id": email, "content": "x"}),
    )
    .await;
    assert_eq!(e["code"], "not_found");
    let e = err(&client, "crm_delete_note", json!({"id": email})).await;
    assert_eq!(
        e["code"], "not_found",
        "a note delete must not delete an email"
    );
    assert_eq!(requests(&sb, "DELETE /entries/{id}").await, 0);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_engagements_of_every_kind_and_filters_them() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let lists = requests(&sb, "GET /entries").await;
    // Whole records (`detail: full`); `fetch_all` (one request of 100) is not held to a page's token budget.
    let page = ok(
        &client,
        "crm_list_engagements",
        json!({"limit": 100, "fetch_all": true, "max_records": 100, "detail": "full"}),
    )
    .await;
    assert_eq!(requests(&sb, "GET /entries").await, lists + 1);
    assert_eq!(
        page["result_count"], 100,
        "every seed entry is an engagement"
    );
    let all = results(&page);
    let kinds: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| e["engagement_type"].as_str().unwrap())
        .collect();
    for k in ["note", "call", "meeting", "email", "task_completed", "Demo"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }
    let email = all
        .iter()
        .find(|e| e["engagement_type"] == "email")
        .unwrap();
    assert!(email["subject"].as_str().unwrap().starts_with("Re: quote"));
    assert_eq!(email["participants"][0]["role"], "FROM");
    assert!(email.get("activity_type").is_none());
    assert!(email["account"].is_object() || email["contacts"].is_array());
    let demo = all.iter().find(|e| e["engagement_type"] == "Demo").unwrap();
    assert_eq!(demo["activity_type"], json!({"id": "101", "name": "Demo"}));

    // A built-in kind is filtered without asking for the activity types.
    let before = total_requests(&sb).await;
    let calls = ok(
        &client,
        "crm_list_engagements",
        json!({"engagement_type": "CALL", "limit": 100}),
    )
    .await;
    assert_eq!(total_requests(&sb).await, before + 1);
    assert!(calls["result_count"].as_u64().unwrap() > 0);
    assert!(
        results(&calls)
            .iter()
            .all(|e| e["engagement_type"] == "call")
    );
    // A custom kind is checked against the cached activity types.
    let types = requests(&sb, "GET /activitytypes").await;
    for _ in 0..2 {
        let demos = ok(
            &client,
            "crm_list_engagements",
            json!({"engagement_type": "demo", "limit": 100}),
        )
        .await;
        assert!(
            results(&demos)
                .iter()
                .all(|e| e["engagement_type"] == "Demo")
        );
        assert!(demos["result_count"].as_u64().unwrap() > 0);
    }
    assert_eq!(
        requests(&sb, "GET /activitytypes").await,
        types + 1,
        "cached"
    );
    let e = err(
        &client,
        "crm_list_engagements",
        json!({"engagement_type": "carrier pigeon"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(e["message"].as_str().unwrap().contains("Site visit"), "{e}");

    // Record filters: one request to the record's timeline.
    let with = |pred: &dyn Fn(&Value) -> bool| all.iter().find(|e| pred(e)).unwrap().clone();
    let on_contact = with(&|e| e["engagement_type"] == "email" && !e["contacts"].is_null());
    let cid = on_contact["contacts"][0]["id"].as_str().unwrap().to_owned();
    let on_opp = with(&|e| e["opportunity"]["id"].is_string());
    let on_kase = with(&|e| e["project"]["id"].is_string());
    let on_org = with(&|e| e["account"]["id"].is_string());
    let cases = [
        ("contact_id", cid.clone(), "GET /parties/{id}/entries"),
        (
            "account_id",
            on_org["account"]["id"].as_str().unwrap().to_owned(),
            "GET /parties/{id}/entries",
        ),
        (
            "opportunity_id",
            on_opp["opportunity"]["id"].as_str().unwrap().to_owned(),
            "GET /opportunities/{id}/entries",
        ),
        (
            "project_id",
            on_kase["project"]["id"].as_str().unwrap().to_owned(),
            "GET /kases/{id}/entries",
        ),
    ];
    for (filter, id, route) in cases {
        let before = total_requests(&sb).await;
        let route_before = requests(&sb, route).await;
        let page = ok(&client, "crm_list_engagements", json!({filter: id})).await;
        assert_eq!(requests(&sb, route).await, route_before + 1, "{filter}");
        assert_eq!(total_requests(&sb).await, before + 1, "{filter}");
        let found = results(&page);
        assert!(!found.is_empty(), "{filter}");
        for e in &found {
            let on = [
                &e["account"]["id"],
                &e["opportunity"]["id"],
                &e["project"]["id"],
            ]
            .iter()
            .any(|v| v.as_str() == Some(id.as_str()))
                || e["contacts"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["id"] == id.as_str()));
            assert!(on, "{filter} {id}: {e}");
        }
    }
    let e = err(
        &client,
        "crm_list_engagements",
        json!({"contact_id": cid, "limit": 51}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn gets_an_email_engagement_in_one_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = raw_entries(&client).await;
    let raw = first_of(&all, |e| e["type"] == "email").clone();
    let id = raw["id"].to_string();
    let before = total_requests(&sb).await;
    let got = ok(&client, "crm_get_engagement", json!({"id": id})).await;
    assert_eq!(total_requests(&sb).await, before + 1);
    assert_eq!(got["engagement_type"], "email");
    assert_eq!(got["subject"], raw["subject"]);
    assert_eq!(got["participants"].as_array().unwrap().len(), 2);
    assert_eq!(got["participants"][1]["role"], "TO");
    assert!(got["participants"][0].get("id").is_none());
    assert_eq!(got["start_time"], raw["entryAt"]);
    let missing = err(&client, "crm_get_engagement", json!({"id": "99999"})).await;
    assert_eq!(missing["code"], "not_found");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("crm_list_engagements")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn engagement_round_trip_with_types_by_name_and_an_attachment() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let before = total_requests(&sb).await;
    for args in [
        json!({"content": "Nowhere", "engagement_type": "call"}),
        json!({"content": "Twice", "engagement_type": "call", "contact_id": "120", "project_id": "500"}),
        json!({"content": "Both", "engagement_type": "call", "engagement_type_id": "-3", "contact_id": "120"}),
        json!({"engagement_type": "call", "contact_id": "120"}),
        json!({"content": "x", "contact_id": "120", "start_time": "tomorrow"}),
    ] {
        let e = err(&client, "crm_create_engagement", args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{args}: {e}");
    }
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no request may reach Capsule"
    );

    // An attachment uploaded straight to the sandbox, linked through remote_data.
    let upload: Value = reqwest::Client::new()
        .post(format!("{}/attachments/upload", sb.api_url()))
        .bearer_auth(capsule_mcp::sandbox::ADMIN_TOKEN)
        .header("Content-Type", "text/plain")
        .header("X-Attachment-Filename", "minutes.txt")
        .body("minutes of the call")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = upload["upload"]["token"].as_str().unwrap();

    let types = requests(&sb, "GET /activitytypes").await;
    let posts = requests(&sb, "POST /entries").await;
    let created = ok(
        &client,
        "crm_create_engagement",
        json!({"content": "Walked through the proposal", "engagement_type": "call",
               "opportunity_id": "300", "start_time": "2025-06-02T09:30:00Z",
               "remote_data": {"attachments": [{"token": token}]}}),
    )
    .await;
    assert_eq!(requests(&sb, "GET /activitytypes").await, types + 1);
    assert_eq!(requests(&sb, "POST /entries").await, posts + 1);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["engagement_type"], "call");
    assert_eq!(
        created["activity_type"],
        json!({"id": "-3", "name": "Call"})
    );
    assert_eq!(created["opportunity"]["id"], "300");
    assert_eq!(created["start_time"], "2025-06-02T09:30:00Z");
    assert_eq!(created["attachments"][0]["filename"], "minutes.txt");
    assert_eq!(created["attachments"][0]["content_type"], "text/plain");
    assert_eq!(created["attachments"][0]["size"], 19);

    // The activity types are cached: the next name costs no request.
    let before = total_requests(&sb).await;
    let meeting = ok(
        &client,
        "crm_create_engagement",
        json!({"content": "On site", "engagement_type": "Site visit", "project_id": "500"}),
    )
    .await;
    assert_eq!(total_requests(&sb).await, before + 1, "only the POST");
    assert_eq!(meeting["engagement_type"], "Site visit");
    assert_eq!(meeting["project"]["id"], "500");

    let plan = ok(
        &client,
        "crm_create_engagement",
        json!({"content": "Dry", "engagement_type_id": "-2", "account_id": "100", "dry_run": true}),
    )
    .await;
    assert_eq!(
        plan["body"]["entry"],
        json!({"type": "note", "party": {"id": 100}, "content": "Dry", "activityType": {"id": -2}})
    );
    let e = err(
        &client,
        "crm_create_engagement",
        json!({"content": "Mail", "engagement_type": "email", "account_id": "100"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");

    let before = total_requests(&sb).await;
    let updated = ok(
        &client,
        "crm_update_engagement",
        json!({"id": id, "engagement_type": "demo", "content": "Demoed the product"}),
    )
    .await;
    // New text: the entry is read first so its call details are kept, then one PUT.
    assert_eq!(total_requests(&sb).await, before + 2, "a read and one PUT");
    assert_eq!(updated["engagement_type"], "Demo");
    assert_eq!(updated["content"], "Demoed the product");
    assert_eq!(updated["start_time"], "2025-06-02T09:30:00Z", "kept");
    let e = err(&client, "crm_update_engagement", json!({"id": id})).await;
    assert_eq!(e["code"], "invalid_argument");

    // A note is an engagement too, and engagements include emails.
    ok(&client, "crm_get_note", json!({"id": id})).await;
    let before = total_requests(&sb).await;
    let deleted = ok(&client, "crm_delete_engagement", json!({"id": id})).await;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    assert_eq!(total_requests(&sb).await, before + 1, "one DELETE");
    assert_eq!(
        err(&client, "crm_get_engagement", json!({"id": id})).await["status"],
        404
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn engagement_types_come_from_the_cached_activity_types() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let page = ok(&client, "crm_list_engagement_types", json!({})).await;
    assert_eq!(page["result_count"], 6);
    assert!(page["next_cursor"].is_null());
    let by_id = |id: &str| results(&page).into_iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(
        by_id("-3"),
        json!({"id": "-3", "name": "Call", "type": "call", "updates_last_contacted": true})
    );
    assert_eq!(by_id("-1")["type"], "note");
    assert_eq!(by_id("-2")["type"], "meeting");
    assert_eq!(by_id("-4")["type"], "task_completed");
    assert_eq!(by_id("101")["type"], "custom");
    assert_eq!(by_id("101")["name"], "Demo");
    assert_eq!(requests(&sb, "GET /activitytypes").await, 1);

    let first = ok(&client, "crm_list_engagement_types", json!({"limit": 4})).await;
    assert_eq!(first["result_count"], 4);
    let rest = ok(
        &client,
        "crm_list_engagement_types",
        json!({"cursor": first["next_cursor"]}),
    )
    .await;
    assert_eq!(rest["result_count"], 2);
    assert!(rest["next_cursor"].is_null());

    let call = ok(&client, "crm_get_engagement_type", json!({"id": "-3"})).await;
    assert_eq!(call["name"], "Call");
    let raw = ok(
        &client,
        "crm_get_engagement_type",
        json!({"id": "102", "include_remote_data": true}),
    )
    .await;
    assert_eq!(raw["remote_data"]["name"], "Site visit");
    assert_eq!(
        requests(&sb, "GET /activitytypes").await,
        1,
        "every call after the first is served from the cache"
    );
    let e = err(&client, "crm_get_engagement_type", json!({"id": "7"})).await;
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().unwrap().contains(LIST));
    client.cancel().await.unwrap();
}

const LIST: &str = "crm_list_engagement_types";
