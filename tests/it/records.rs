//! Search, web links, call details and sandbox fidelity (issue 12, record side): the real
//! binary over stdio against the sandbox Capsule. Request counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::*;

const SEARCH_ROUTES: [&str; 3] = [
    "GET /parties/search",
    "GET /opportunities/search",
    "GET /kases/search",
];

/// An account, a contact at it, an opportunity and a project, all named after `word`.
async fn four_records(client: &Peer, word: &str) -> [String; 4] {
    let account = ok(
        client,
        "crm_create_account",
        json!({"name": format!("{word} Ltd")}),
    )
    .await;
    let account = account["id"].as_str().unwrap().to_owned();
    let contact = ok(
        client,
        "crm_create_contact",
        json!({"first_name": word, "last_name": "Walker", "account_id": account,
               "email_addresses": [{"email": "walker@quokka.example"}]}),
    )
    .await;
    let opp = ok(
        client,
        "crm_create_opportunity",
        json!({"name": format!("{word} rollout"), "account_id": account, "stage_id": "1",
               "amount": 1200, "currency": "GBP"}),
    )
    .await;
    let project = ok(
        client,
        "crm_create_project",
        json!({"name": format!("{word} onboarding"), "account_id": account}),
    )
    .await;
    [
        contact["id"].as_str().unwrap().to_owned(),
        account,
        opp["id"].as_str().unwrap().to_owned(),
        project["id"].as_str().unwrap().to_owned(),
    ]
}

fn hit<'a>(out: &'a Value, kind: &str, id: &str) -> &'a Value {
    out["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["type"] == kind && h["id"] == id)
        .unwrap_or_else(|| panic!("no {kind} {id} hit in {out}"))
}

#[tokio::test]
async fn search_finds_all_four_types_with_three_parallel_requests() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let [contact, account, opp, project] = four_records(&client, "Zephyrine").await;

    // Each search endpoint answers after 600 ms: one after another would take 1.8 s.
    for route in SEARCH_ROUTES {
        admin(&sb, "faults", json!({"route": route, "delay_ms": 600})).await;
    }
    let before: Vec<u64> =
        futures_util::future::join_all(SEARCH_ROUTES.map(|r| requests(&sb, r))).await;
    let total = total_requests(&sb).await;
    let started = Instant::now();
    let out = ok(&client, "crm_search", json!({"query": "zephyrine"})).await;
    let took = started.elapsed();
    for (route, b) in SEARCH_ROUTES.iter().zip(before) {
        assert_eq!(requests(&sb, route).await, b + 1, "{route}");
    }
    assert_eq!(
        total_requests(&sb).await,
        total + 3,
        "one request per endpoint"
    );
    assert!(
        took < Duration::from_millis(1500),
        "the three searches run in parallel: {took:?}"
    );

    let c = hit(&out, "contact", &contact);
    assert_eq!(c["name"], "Zephyrine Walker");
    let context = c["context"].as_str().unwrap();
    assert!(
        context.contains("Zephyrine Ltd") && context.contains("walker@quokka.example"),
        "{c}"
    );
    assert_eq!(hit(&out, "account", &account)["name"], "Zephyrine Ltd");
    let o = hit(&out, "opportunity", &opp);
    assert_eq!(o["name"], "Zephyrine rollout");
    let context = o["context"].as_str().unwrap();
    assert!(
        context.contains("New") && context.contains("1200") && context.contains("GBP"),
        "{o}"
    );
    let p = hit(&out, "project", &project);
    assert_eq!(p["name"], "Zephyrine onboarding");
    assert!(
        p["context"].as_str().unwrap().contains("Zephyrine Ltd"),
        "{p}"
    );
    assert!(out.get("failed").is_none_or(|f| f == &json!([])), "{out}");
    for h in out["hits"].as_array().unwrap() {
        assert!(
            h["context"]
                .as_str()
                .is_none_or(|c| c.chars().count() <= 120),
            "{h}"
        );
    }

    // A subset asks only its endpoints; `limit` bounds each type.
    let before = total_requests(&sb).await;
    let out = ok(
        &client,
        "crm_search",
        json!({"query": "zephyrine", "entity_types": ["opportunity"], "limit": 1}),
    )
    .await;
    assert_eq!(total_requests(&sb).await, before + 1);
    let hits = out["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["type"], "opportunity");

    let e = err(&client, "crm_search", json!({"query": "  "})).await;
    assert_eq!(e["code"], "invalid_argument");
}

#[tokio::test]
async fn search_keeps_the_other_types_when_one_endpoint_fails() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let [contact, account, _opp, project] = four_records(&client, "Quillfeather").await;
    admin(
        &sb,
        "faults",
        json!({"route": "GET /opportunities/search", "status": 500, "times": 10}),
    )
    .await;
    let out = ok(&client, "crm_search", json!({"query": "quillfeather"})).await;
    hit(&out, "contact", &contact);
    hit(&out, "account", &account);
    hit(&out, "project", &project);
    assert!(
        out["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["type"] != "opportunity"),
        "{out}"
    );
    let failed = out["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{out}");
    assert_eq!(failed[0]["type"], "opportunity");
    assert_eq!(failed[0]["status"], 500);
    assert!(failed[0]["message"].is_string());
}

#[tokio::test]
async fn web_url_on_get_of_each_record_kind() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let site = "https://sandbox.capsulecrm.com";
    for (tool, id, path) in [
        ("crm_get_contact", "120", "party"),
        ("crm_get_account", "100", "party"),
        ("crm_get_opportunity", "300", "opportunity"),
        ("crm_get_project", "500", "kase"),
    ] {
        let r = ok(&client, tool, json!({"id": id})).await;
        assert_eq!(r["web_url"], format!("{site}/{path}/{id}"), "{tool}");
    }
    assert_eq!(requests(&sb, "GET /site").await, 1, "the site is cached");

    // Full list records carry it; lean summaries do not.
    let full = ok(
        &client,
        "crm_list_contacts",
        json!({"limit": 3, "detail": "full"}),
    )
    .await;
    for r in full["result"].as_array().unwrap() {
        assert_eq!(
            r["web_url"],
            format!("{site}/party/{}", r["id"].as_str().unwrap())
        );
    }
    let lean = ok(&client, "crm_list_opportunities", json!({"limit": 3})).await;
    assert!(
        lean["result"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("web_url").is_none())
    );
}

#[tokio::test]
async fn records_come_back_without_web_url_when_site_fails() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    admin(
        &sb,
        "faults",
        json!({"route": "GET /site", "status": 500, "times": 10}),
    )
    .await;
    let r = ok(&client, "crm_get_contact", json!({"id": "120"})).await;
    assert_eq!(r["id"], "120");
    assert!(r.get("web_url").is_none(), "{r}");
    assert!(requests(&sb, "GET /site").await >= 1);
}

#[tokio::test]
async fn sandbox_serves_site_as_documented() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let r = ok(
        &client,
        "capsule_api_request",
        json!({"method": "GET", "path": "/site"}),
    )
    .await;
    let site = &r["body"]["site"];
    assert_eq!(site["url"], "https://sandbox.capsulecrm.com");
    assert_eq!(site["subdomain"], "sandbox");
    assert!(site["name"].is_string());
}

async fn raw_entry(client: &Peer, id: &str) -> Value {
    let r = ok(
        client,
        "capsule_api_request",
        json!({"method": "GET", "path": format!("/entries/{id}")}),
    )
    .await;
    r["body"]["entry"].clone()
}

#[tokio::test]
async fn call_details_read_back_as_written() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let written = json!({
        "direction": "outbound",
        "duration_seconds": 330,
        "outcome": "connected",
        "recording_url": "https://calls.example.com/r/8812",
        "occurred_at": "2026-03-04T10:15:00Z",
    });
    let mut args = json!({"content": "Talked through the renewal.", "engagement_type": "call",
                          "contact_id": "125"});
    args.as_object_mut()
        .unwrap()
        .extend(written.as_object().unwrap().clone());
    let created = ok(&client, "crm_create_engagement", args).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let check = |r: &Value, what: &str| {
        for (k, v) in written.as_object().unwrap() {
            assert_eq!(&r[k], v, "{what}: {k} in {r}");
        }
        assert_eq!(r["content"], "Talked through the renewal.", "{what}");
        assert_eq!(r["start_time"], "2026-03-04T10:15:00Z", "{what}");
    };
    check(&created, "create");
    check(
        &ok(&client, "crm_get_engagement", json!({"id": id})).await,
        "get",
    );
    let list = ok(
        &client,
        "crm_list_engagements",
        json!({"contact_id": "125", "detail": "full"}),
    )
    .await;
    let listed = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap();
    check(listed, "list");

    // Stored in Capsule: the text, then the documented block; the time is entryAt.
    let raw = raw_entry(&client, &id).await;
    assert_eq!(raw["entryAt"], "2026-03-04T10:15:00Z");
    assert_eq!(
        raw["content"],
        "Talked through the renewal.\n\n--- Call details ---\nDirection: outbound\n\
         Duration: 330 seconds\nOutcome: connected\nRecording: https://calls.example.com/r/8812"
    );

    // Updating one detail keeps the others and the text, and costs a read and a PUT.
    let before = total_requests(&sb).await;
    let updated = ok(
        &client,
        "crm_update_engagement",
        json!({"id": id, "outcome": "voicemail"}),
    )
    .await;
    assert_eq!(total_requests(&sb).await, before + 2);
    let mut expected = written.clone();
    expected["outcome"] = json!("voicemail");
    for r in [
        &updated,
        &ok(&client, "crm_get_engagement", json!({"id": id})).await,
    ] {
        for (k, v) in expected.as_object().unwrap() {
            assert_eq!(&r[k], v, "after update: {k} in {r}");
        }
        assert_eq!(r["content"], "Talked through the renewal.");
    }
    // New text keeps the details; null clears one.
    let updated = ok(
        &client,
        "crm_update_engagement",
        json!({"id": id, "content": "Renewal agreed.", "recording_url": null}),
    )
    .await;
    assert_eq!(updated["content"], "Renewal agreed.");
    assert_eq!(updated["duration_seconds"], 330);
    assert!(updated.get("recording_url").is_none(), "{updated}");

    // A person edits the note in Capsule: text before and after, lines reordered, CRLF.
    let edited = "Renewal agreed.\r\nSent the contract.\r\n\r\n--- Call details ---\r\n\
                  Outcome: voicemail\r\nDuration: 5:30\r\nDirection: outbound\r\n\r\nFollow up Friday.";
    ok(
        &client,
        "capsule_api_request",
        json!({"method": "PUT", "path": format!("/entries/{id}"),
               "body": {"entry": {"content": edited}}}),
    )
    .await;
    let got = ok(&client, "crm_get_engagement", json!({"id": id})).await;
    assert_eq!(
        got["content"],
        "Renewal agreed.\r\nSent the contract.\r\n\r\nFollow up Friday."
    );
    assert_eq!(got["direction"], "outbound");
    assert_eq!(got["duration_seconds"], 330);
    assert_eq!(got["outcome"], "voicemail");

    // Bad values are refused before any request.
    let before = total_requests(&sb).await;
    for bad in [
        json!({"id": id, "recording_url": "ftp://x.example/r"}),
        json!({"id": id, "direction": "sideways"}),
        json!({"id": id, "duration_seconds": -5}),
        json!({"id": id, "outcome": "two\nlines"}),
        json!({"id": id, "start_time": "2026-01-01T00:00:00Z", "occurred_at": "2026-01-02T00:00:00Z"}),
    ] {
        let e = err(&client, "crm_update_engagement", bad.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{bad}");
    }
    assert_eq!(total_requests(&sb).await, before);
}

#[tokio::test]
async fn party_search_matches_postcode_and_searchable_custom_fields() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let created = ok(
        &client,
        "capsule_api_request",
        json!({"method": "POST", "path": "/parties", "body": {"party": {
            "type": "person", "firstName": "Odile", "lastName": "Marsh",
            "addresses": [{"street": "1 Quay", "city": "Leeds", "zip": "QZ9 9ZZ", "country": "United Kingdom"}],
            "fields": [{"definition": {"id": 45}, "value": "quokka-referrals.example"}]
        }}}),
    )
    .await;
    let id = created["body"]["party"]["id"].clone();
    for q in ["qz9 9zz", "QUOKKA-REFERRALS"] {
        let r = ok(
            &client,
            "capsule_api_request",
            json!({"method": "GET", "path": "/parties/search", "query": {"q": q}}),
        )
        .await;
        let ids: Vec<&Value> = r["body"]["parties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["id"])
            .collect();
        assert!(ids.contains(&&id), "{q}: {ids:?}");
    }
}

#[tokio::test]
async fn sandbox_reference_data_matches_the_docs() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let get = |path: &str| {
        let client = client.clone();
        let path = path.to_owned();
        async move {
            ok(
                &client,
                "capsule_api_request",
                json!({"method": "GET", "path": path}),
            )
            .await["body"]
                .clone()
        }
    };
    // Salutations: Capsule's built-ins, Miss and Master included, are accepted.
    let titles = get("/titles").await;
    let names: Vec<&str> = titles["personTitles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    for t in ["Mr", "Master", "Mrs", "Miss", "Ms", "Dr"] {
        assert!(names.contains(&t), "{t}: {names:?}");
        let c = ok(
            &client,
            "crm_create_contact",
            json!({"first_name": "Title", "last_name": t, "salutation": t}),
        )
        .await;
        assert_eq!(c["salutation"], t);
    }
    // Countries carry numericCode as a string of three digits; currencies a symbol and name.
    let countries = get("/countries").await;
    for c in countries["countries"].as_array().unwrap() {
        let n = c["numericCode"].as_str().unwrap_or_else(|| panic!("{c}"));
        assert!(n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()), "{c}");
    }
    let currencies = get("/currencies").await;
    for c in currencies["currencies"].as_array().unwrap() {
        assert!(
            c["code"].is_string() && c["symbol"].is_string() && c["name"].is_string(),
            "{c}"
        );
    }
    let gbp = currencies["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "GBP")
        .unwrap();
    assert_eq!(gbp["symbol"], "£");
    // The Note activity type updates last contacted, as Capsule documents.
    let types = get("/activitytypes").await;
    let note = types["activityTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == -1)
        .unwrap();
    assert_eq!(note["updateLastContacted"], true, "{note}");
    let t = ok(&client, "crm_get_engagement_type", json!({"id": "-1"})).await;
    assert_eq!(t["updates_last_contacted"], true);
    // ... and so a note moves the contact's last_activity_at.
    ok(
        &client,
        "crm_create_note",
        json!({"content": "Quick note", "contact_id": "131", "occurred_at": "2030-01-02T03:04:05Z"}),
    )
    .await;
    let c = ok(&client, "crm_get_contact", json!({"id": "131"})).await;
    assert_eq!(c["last_activity_at"], "2030-01-02T03:04:05Z");
}

#[tokio::test]
async fn a_list_value_outside_the_options_is_stored() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // Project field 73 "Priority" offers Low / Medium / High.
    let r = call(
        &client,
        "capsule_api_request",
        json!({"method": "PUT", "path": "/kases/500",
               "body": {"kase": {"fields": [{"definition": {"id": 73}, "value": "Urgent"}]}}}),
    )
    .await;
    let body = r.structured_content.clone().unwrap();
    assert_eq!(body["status"], 200, "{body}");
    let p = ok(&client, "crm_get_project", json!({"id": "500"})).await;
    assert_eq!(p["custom_fields"]["Priority"], "Urgent", "{p}");
    // Written through the unified tool too.
    let u = ok(
        &client,
        "crm_update_project",
        json!({"id": "501", "custom_fields": {"Priority": "Someday"}}),
    )
    .await;
    assert_eq!(u["custom_fields"]["Priority"], "Someday", "{u}");
}
