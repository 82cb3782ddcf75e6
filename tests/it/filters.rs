//! Lookup and segment filters (issue 12) through the real binary against the sandbox: `email`
//! and `phone` on contacts and accounts, `tags` and `custom_fields` on every record list, the
//! opportunity date and stage filters, and crm_list_tags. Request counts come from the
//! sandbox's stats.
//!
//! Seed: contact 124 is Bob Novak, `+44 7700 900004`, addresses `bob.novak@…` (work) and
//! `bob.novak@mail.example` (home); contact 125 has `+44 7700 900005`. Accounts 100-119 have
//! `+1 555 01NN`; tags Customer + VIP on accounts 100, 104, 108, 112, 116, of which `Local` is
//! true on 104, 108, 116.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use capsule_mcp::sandbox::ADMIN_TOKEN;
use serde_json::{Value, json};

use super::common::*;

fn id_set(list: &Value) -> BTreeSet<String> {
    ids(list).into_iter().collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn phone_lookup_finds_the_contact_in_every_form_with_at_most_two_requests() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    for form in [
        "+447700900004",
        "07700 900004",
        "07700900004",
        "00447700900004",
        "+44 (0)7700 900004",
        "+44-7700-900004",
    ] {
        let before = total_requests(&sb).await;
        let r = ok(&client, "crm_list_contacts", json!({"phone": form})).await;
        let used = total_requests(&sb).await - before;
        assert_eq!(ids(&r), ["124"], "{form}: {r}");
        assert!(used <= 2, "{form}: {used} Capsule requests");
        assert!(r.get("searched").is_none(), "a hit needs no note: {r}");
    }
    // Near misses: another last digit, a digit short, another country code.
    for miss in ["+44 7700 900005", "07700 90004", "+1 7700 900004"] {
        let before = total_requests(&sb).await;
        let r = ok(&client, "crm_list_contacts", json!({"phone": miss})).await;
        let used = total_requests(&sb).await - before;
        assert!(!ids(&r).contains(&"124".to_string()), "{miss}: {r}");
        assert!(used <= 2, "{miss}: {used} Capsule requests");
    }
    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"phone": "+44 7700 900005"}),
    )
    .await;
    assert_eq!(ids(&r), ["125"]);
    // A miss says what was compared.
    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"phone": "07700 90004"}),
    )
    .await;
    assert_eq!(r["result"], json!([]));
    let note = r["searched"].as_str().expect("a miss carries `searched`");
    assert!(note.contains("770090004"), "{note}");
    // Accounts: an organisation's number; a contact lookup does not return it.
    let r = ok(
        &client,
        "crm_list_accounts",
        json!({"phone": "001-555-0104"}),
    )
    .await;
    assert_eq!(ids(&r), ["104"]);
    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"phone": "+1 555 0104"}),
    )
    .await;
    assert_eq!(ids(&r), Vec::<String>::new());
    // Too few digits to name a number.
    let e = err(&client, "crm_list_contacts", json!({"phone": "0004"})).await;
    assert_eq!(e["code"], "invalid_argument");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn email_lookup_is_exact_any_case_and_any_address() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let route = "POST /parties/filters/results";
    for given in ["bob.novak@mail.example", "BOB.Novak@Mail.Example"] {
        let before = requests(&sb, route).await;
        let r = ok(&client, "crm_list_contacts", json!({"email": given})).await;
        assert_eq!(ids(&r), ["124"], "{given}");
        assert_eq!(requests(&sb, route).await, before + 1, "one filter request");
    }
    // Not a substring: `novak@mail.example` is not Bob's address.
    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"email": "novak@mail.example"}),
    )
    .await;
    assert_eq!(r["result"], json!([]));
    assert!(
        r["searched"]
            .as_str()
            .is_some_and(|s| s.contains("novak@mail.example")),
        "{r}"
    );
    let acct = ok(&client, "crm_get_account", json!({"id": "104"})).await;
    let address = acct["email_addresses"][0]["email"].as_str().unwrap();
    let r = ok(&client, "crm_list_accounts", json!({"email": address})).await;
    assert_eq!(ids(&r), ["104"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_segment_is_one_filter_request_per_page_on_every_list() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let parties = "POST /parties/filters/results";

    let only_tags = ok(
        &client,
        "crm_list_accounts",
        json!({"tags": ["Customer", "vip"]}),
    )
    .await;
    assert_eq!(
        id_set(&only_tags),
        set(&["100", "104", "108", "112", "116"])
    );
    for args in [
        json!({"tags": ["Customer", "VIP"], "custom_fields": {"Local": true}}),
        json!({"tags": ["1", "3"], "custom_fields": {"48": true}, "owner_id": "61"}),
    ] {
        let before = requests(&sb, parties).await;
        let r = ok(&client, "crm_list_accounts", args.clone()).await;
        assert_eq!(id_set(&r), set(&["104", "108", "116"]), "{args}");
        assert_eq!(requests(&sb, parties).await, before + 1, "{args}");
        assert_eq!(requests(&sb, "GET /parties").await, 0, "no unfiltered list");
    }
    // Page by page: one filter request a page.
    let before = requests(&sb, parties).await;
    let first = ok(
        &client,
        "crm_list_accounts",
        json!({"tags": ["Customer", "VIP"], "custom_fields": {"Local": true}, "limit": 2}),
    )
    .await;
    assert_eq!(first["result_count"], 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = ok(&client, "crm_list_accounts", json!({"cursor": cursor})).await;
    assert_eq!(ids(&rest), ["116"]);
    assert_eq!(requests(&sb, parties).await, before + 2);

    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"tags": ["Prospect", "Lead"], "custom_fields": {"Lead Score": 41}}),
    )
    .await;
    assert_eq!(ids(&r), ["121"]);

    let route = "POST /opportunities/filters/results";
    let before = requests(&sb, route).await;
    let r = ok(
        &client,
        "crm_list_opportunities",
        json!({"tags": ["Referral", "Upsell"], "custom_fields": {"Deal Source": "Event"}}),
    )
    .await;
    assert_eq!(id_set(&r), set(&["302", "322"]));
    assert_eq!(requests(&sb, route).await, before + 1);

    let route = "POST /kases/filters/results";
    let before = requests(&sb, route).await;
    let r = ok(
        &client,
        "crm_list_projects",
        json!({"tags": ["Urgent"], "custom_fields": {"Priority": "low"}}),
    )
    .await;
    assert_eq!(id_set(&r), set(&["500", "506"]));
    assert_eq!(requests(&sb, route).await, before + 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_tag_id_is_sent_as_a_number() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // Tag 3 is VIP: as a string Capsule would look for a tag named "3".
    let r = ok(
        &client,
        "crm_list_contacts",
        json!({"tag": "3", "detail": "full", "fetch_all": true}),
    )
    .await;
    assert!(r["result_count"].as_u64().unwrap() > 0, "{r}");
    for c in r["result"].as_array().unwrap() {
        assert!(
            c["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "VIP")
        );
    }
    let r = ok(&client, "crm_list_accounts", json!({"tag": "3"})).await;
    assert_eq!(id_set(&r), set(&["100", "104", "108", "112", "116"]));
    let r = ok(&client, "crm_list_projects", json!({"tag": "21"})).await;
    assert_eq!(id_set(&r), set(&["500", "503", "506", "509"]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn unknown_tag_or_field_names_are_refused_naming_close_matches_before_any_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    // Reference data is cached: after these, a refused list costs no Capsule request at all.
    for entity in ["contact", "opportunity", "project"] {
        ok(&client, "crm_list_tags", json!({"entity_type": entity})).await;
        ok(&client, "crm_list_fields", json!({"entity_type": entity})).await;
    }
    let cases = [
        (
            "crm_list_contacts",
            json!({"tags": ["Custmer"]}),
            "Customer",
        ),
        ("crm_list_contacts", json!({"tags": ["VIP", "vi"]}), "VIP"),
        ("crm_list_contacts", json!({"tag": "Prospekt"}), "Prospect"),
        (
            "crm_list_accounts",
            json!({"custom_fields": {"Industry Sectr": "Technology"}}),
            "Industry Sector",
        ),
        (
            "crm_list_contacts",
            json!({"custom_fields": {"lead scor": 3}}),
            "Lead Score",
        ),
        (
            "crm_list_opportunities",
            json!({"tags": ["Upsel"]}),
            "Upsell",
        ),
        (
            "crm_list_opportunities",
            json!({"custom_fields": {"Deal": "Event"}}),
            "Deal Source",
        ),
        ("crm_list_projects", json!({"tags": ["urgnt"]}), "Urgent"),
        (
            "crm_list_projects",
            json!({"custom_fields": {"Prio": "Low"}}),
            "Priority",
        ),
    ];
    for (tool, args, close) in cases {
        let before = total_requests(&sb).await;
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {args}: {e}");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(close), "{tool} {args}: {msg}");
        assert_eq!(
            total_requests(&sb).await,
            before,
            "{tool} {args}: no Capsule request"
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn won_since_a_date_and_the_other_opportunity_date_and_stage_filters() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(
        &client,
        "crm_list_opportunities",
        json!({"fetch_all": true, "detail": "full"}),
    )
    .await;
    let all = all["result"].as_array().unwrap().clone();
    let pick = |f: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        all.iter()
            .filter(|o| f(o))
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let date = |o: &Value, k: &str| o[k].as_str().map(str::to_owned);
    let won_since = pick(&|o| {
        o["status"] == "won" && date(o, "close_date").is_some_and(|d| d.as_str() > "2026-06-01")
    });
    assert_eq!(won_since, set(&["315", "321", "327"]));

    let route = "POST /opportunities/filters/results";
    let before = requests(&sb, route).await;
    let r = ok(
        &client,
        "crm_list_opportunities",
        json!({"status": "won", "closed_after": "2026-06-01"}),
    )
    .await;
    assert_eq!(id_set(&r), won_since);
    assert_eq!(
        requests(&sb, route).await,
        before + 1,
        "one call, one request"
    );

    let lost_before = pick(&|o| {
        o["status"] == "lost" && date(o, "close_date").is_some_and(|d| d.as_str() < "2026-07-01")
    });
    assert!(!lost_before.is_empty());
    let r = ok(
        &client,
        "crm_list_opportunities",
        json!({"status": "lost", "closed_before": "2026-07-01"}),
    )
    .await;
    assert_eq!(id_set(&r), lost_before);

    let open = ok(
        &client,
        "crm_list_opportunities",
        json!({"status": "open", "fetch_all": true}),
    )
    .await;
    assert_eq!(
        id_set(&open),
        pick(&|o| o["status"] == "open"),
        "open, from isOpen"
    );

    let expected = pick(&|o| {
        date(o, "expected_close_date")
            .is_some_and(|d| d.as_str() > "2026-05-01" && d.as_str() < "2026-08-01")
    });
    assert!(!expected.is_empty());
    let r = ok(
        &client,
        "crm_list_opportunities",
        json!({"expected_close_after": "2026-05-01", "expected_close_before": "2026-08-01",
               "fetch_all": true}),
    )
    .await;
    assert_eq!(id_set(&r), expected);

    let bid = pick(&|o| o["stage"]["id"] == "2");
    assert!(!bid.is_empty());
    let r = ok(
        &client,
        "crm_list_opportunities",
        json!({"stage_id": "2", "fetch_all": true}),
    )
    .await;
    assert_eq!(id_set(&r), bid);

    let e = err(
        &client,
        "crm_list_opportunities",
        json!({"closed_after": "01/06/2026"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    let e = err(
        &client,
        "crm_list_opportunities",
        json!({"stage_id": "999"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    // Stage 2 is in pipeline 10.
    let e = err(
        &client,
        "crm_list_opportunities",
        json!({"stage_id": "2", "pipeline_id": "11"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    let same = ok(
        &client,
        "crm_list_opportunities",
        json!({"stage_id": "2", "pipeline_id": "10", "fetch_all": true}),
    )
    .await;
    assert_eq!(id_set(&same), bid);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_tags_for_each_entity_type() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let names = |r: &Value| -> BTreeSet<String> {
        r["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let party = set(&["Customer", "Prospect", "VIP", "Supplier", "Lead"]);
    for (entity, want) in [
        ("contact", party.clone()),
        ("account", party),
        ("opportunity", set(&["Upsell", "Renewal", "Referral"])),
        ("project", set(&["Urgent", "Retainer"])),
    ] {
        let r = ok(&client, "crm_list_tags", json!({"entity_type": entity})).await;
        assert_eq!(names(&r), want, "{entity}");
        for t in r["result"].as_array().unwrap() {
            assert!(t["id"].as_str().unwrap().parse::<i64>().is_ok(), "{t}");
        }
    }
    let r = ok(&client, "crm_list_tags", json!({"entity_type": "project"})).await;
    assert_eq!(id_set(&r), set(&["21", "22"]));
    let e = err(&client, "crm_list_tags", json!({})).await;
    assert_eq!(e["code"], "invalid_argument");
    client.cancel().await.unwrap();
}

/// The sandbox answers the filter conditions these tools send as Capsule documents them.
#[tokio::test]
async fn the_sandbox_filters_as_capsule_documents() {
    let sb = sandbox().await;
    let http = reqwest::Client::new();
    let post = |path: &str, conds: Value| {
        http.post(format!("{}{path}", sb.api_url()))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"filter": {"conditions": conds}}))
            .send()
    };
    let ids_of = |v: &Value, key: &str| -> Vec<i64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let parties = |conds: Value| {
        let f = post("/parties/filters/results", conds);
        async move {
            let r = f.await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // `tag`: a number is an id, a string a name (so "3" is no tag).
    let (_, by_id) = parties(json!([{"field": "tag", "operator": "is", "value": 3}])).await;
    assert!(!ids_of(&by_id, "parties").is_empty());
    let (_, by_text) = parties(json!([{"field": "tag", "operator": "is", "value": "3"}])).await;
    assert!(ids_of(&by_text, "parties").is_empty());
    // `email is`: the whole address, any of the party's.
    let (_, r) =
        parties(json!([{"field": "email", "operator": "is", "value": "novak@mail.example"}])).await;
    assert!(ids_of(&r, "parties").is_empty());
    let (_, r) =
        parties(json!([{"field": "email", "operator": "is", "value": "bob.novak@mail.example"}]))
            .await;
    assert_eq!(ids_of(&r, "parties"), [124]);
    // `phone` compares the stored text: `ends with` digits, `is` the whole text.
    let (_, r) =
        parties(json!([{"field": "phone", "operator": "ends with", "value": "0004"}])).await;
    assert_eq!(ids_of(&r, "parties"), [124]);
    let (_, r) =
        parties(json!([{"field": "phone", "operator": "is", "value": "+447700900004"}])).await;
    assert!(ids_of(&r, "parties").is_empty());
    // Custom fields by `custom:{id}`; an unknown field is 422 `invalid field name`.
    let (_, r) = parties(
        json!([{"field": "custom:48", "operator": "is", "value": true},
                                {"field": "tag", "operator": "is", "value": 3}]),
    )
    .await;
    assert_eq!(ids_of(&r, "parties"), [104, 108, 116]);
    let (status, r) = parties(json!([{"field": "custom", "operator": "is", "value": 1}])).await;
    assert_eq!(status, 422);
    assert_eq!(r["errors"][0]["message"], "invalid field name", "{r}");
    // Opportunities: `isOpen`, `probability`, dates with `is after`, `milestone` by name.
    let opp = |conds: Value| {
        let f = post("/opportunities/filters/results", conds);
        async move { f.await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = opp(
        json!([{"field": "isOpen", "operator": "is", "value": false},
                       {"field": "probability", "operator": "is greater than", "value": 0},
                       {"field": "closedOn", "operator": "is after", "value": "2026-06-01"}]),
    )
    .await;
    assert_eq!(ids_of(&r, "opportunities"), [315, 321, 327]);
    let r = opp(
        json!([{"field": "milestone", "operator": "is", "value": "Bid"},
                       {"field": "pipeline", "operator": "is", "value": 10}]),
    )
    .await;
    assert!(!ids_of(&r, "opportunities").is_empty());
    let r = opp(json!([{"field": "milestone", "operator": "is", "value": 2}])).await;
    assert!(
        ids_of(&r, "opportunities").is_empty(),
        "`milestone` is a string field: a number is no milestone name"
    );
}
