//! The Capsule client against the sandbox on loopback: every resource, pagination via Link,
//! multi-show, writes with nested `_delete`, search, filters, deleted feeds, and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use capsule_mcp::capsule::{
    CapsuleClient, CapsuleError, ClientOptions, Method, Request,
    auth::StaticToken,
    endpoint::{self, Endpoint},
    wire,
};
use capsule_mcp::sandbox::{ADMIN_TOKEN, READONLY_TOKEN, USER_TOKEN};
use serde_json::{Value, json};

use super::common::*;

fn client(sb: &capsule_mcp::sandbox::Sandbox, token: &str) -> CapsuleClient {
    CapsuleClient::new(
        ClientOptions {
            api_url: sb.api_url(),
            ..Default::default()
        },
        StaticToken::new(token.to_owned().into(), "test"),
    )
    .unwrap()
}

fn decode_all<T: serde::de::DeserializeOwned>(items: &[Value]) {
    for item in items {
        wire::decode::<T>(item).unwrap_or_else(|e| panic!("{e}: {item}"));
    }
}

#[tokio::test]
async fn lists_every_resource_across_pages_and_decodes_it() {
    let sb = sandbox().await;
    let c = client(&sb, ADMIN_TOKEN);
    let paged: [(&Endpoint, usize); 10] = [
        (&endpoint::PARTIES, 80),
        (&endpoint::OPPORTUNITIES, 30),
        (&endpoint::KASES, 10),
        (&endpoint::ENTRIES, 100),
        (&endpoint::PIPELINES, 2),
        (&endpoint::BOARDS, 2),
        (&endpoint::STAGES, 7),
        (&endpoint::LOST_REASONS, 3),
        (&endpoint::CATEGORIES, 4),
        (&endpoint::PARTY_FIELDS, 8),
    ];
    for (ep, expected) in paged {
        let before = requests(&sb, &format!("GET {}", ep.path)).await;
        let items = c
            .list_all(
                Request::get(ep.path).query("perPage", "3"),
                ep.plural,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(items.len(), expected, "{}", ep.path);
        let pages = requests(&sb, &format!("GET {}", ep.path)).await - before;
        assert_eq!(
            pages as usize,
            expected.div_ceil(3),
            "{}: one request a page",
            ep.path
        );
    }
    let parties = c
        .list_all(
            Request::get("/parties").query("perPage", "100"),
            "parties",
            1000,
        )
        .await
        .unwrap();
    decode_all::<wire::Party>(&parties);
    let opps = c
        .list_all(Request::get("/opportunities"), "opportunities", 1000)
        .await
        .unwrap();
    decode_all::<wire::Opportunity>(&opps);
    let kases = c
        .list_all(Request::get("/kases"), "kases", 1000)
        .await
        .unwrap();
    decode_all::<wire::Kase>(&kases);
    let tasks = c
        .list_all(
            Request::get("/tasks").query("status", "open,completed,pending"),
            "tasks",
            1000,
        )
        .await
        .unwrap();
    assert_eq!(tasks.len(), 40);
    decode_all::<wire::Task>(&tasks);
    let entries = c
        .list_all(Request::get("/entries"), "entries", 1000)
        .await
        .unwrap();
    decode_all::<wire::Entry>(&entries);
    let users = c
        .list_all(Request::get("/users"), "users", 100)
        .await
        .unwrap();
    assert!(users.len() >= 3);
    decode_all::<wire::User>(&users);
    decode_all::<wire::Team>(
        &c.list_all(Request::get("/teams"), "teams", 100)
            .await
            .unwrap(),
    );
    decode_all::<wire::ActivityType>(
        &c.list_all(Request::get("/activitytypes"), "activityTypes", 100)
            .await
            .unwrap(),
    );
    decode_all::<wire::Milestone>(
        &c.list_all(Request::get("/pipelines/10/milestones"), "milestones", 100)
            .await
            .unwrap(),
    );
    decode_all::<wire::Stage>(
        &c.list_all(Request::get("/boards/7/stages"), "stages", 100)
            .await
            .unwrap(),
    );
    decode_all::<wire::Tag>(
        &c.list_all(Request::get("/parties/tags"), "tags", 100)
            .await
            .unwrap(),
    );
    // A bound stops early: no more requests than the data needs.
    let before = requests(&sb, "GET /parties").await;
    let five = c
        .list_all(Request::get("/parties").query("perPage", "5"), "parties", 5)
        .await
        .unwrap();
    assert_eq!(five.len(), 5);
    assert_eq!(requests(&sb, "GET /parties").await, before + 1);
}

#[tokio::test]
async fn show_multi_show_and_writes_with_nested_delete() {
    let sb = sandbox().await;
    let c = client(&sb, ADMIN_TOKEN);
    let p = c.show(&endpoint::PARTIES, 120, &[]).await.unwrap();
    assert_eq!(p["id"], 120);
    let ids: Vec<i64> = (120..135).collect();
    let before = requests(&sb, "GET /parties/{id}").await;
    let many = c.show_many(&endpoint::PARTIES, &ids, &[]).await.unwrap();
    assert_eq!(many.len(), 15);
    assert_eq!(
        requests(&sb, "GET /parties/{id}").await,
        before + 2,
        "10 ids a request"
    );

    let created = c
        .create(
            &endpoint::PARTIES,
            json!({"type": "person", "firstName": "Grace",
            "emailAddresses": [{"address": "grace@navy.example", "type": "Work"}],
            "tags": [{"name": "Admiral"}]}),
        )
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let email_id = created["emailAddresses"][0]["id"].as_i64().unwrap();
    let updated = c
        .update(
            &endpoint::PARTIES,
            id,
            json!({"lastName": "Hopper",
            "emailAddresses": [{"id": email_id, "_delete": true}]}),
        )
        .await
        .unwrap();
    assert_eq!(updated["lastName"], "Hopper");
    assert_eq!(updated["emailAddresses"], json!([]));
    c.delete(&endpoint::PARTIES, id).await.unwrap();
    let gone = c.show(&endpoint::PARTIES, id, &[]).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
}

#[tokio::test]
async fn search_filter_and_deleted_feed() {
    let sb = sandbox().await;
    let c = client(&sb, ADMIN_TOKEN);
    let found = c.search(&endpoint::PARTIES, "zestia", &[]).await.unwrap();
    assert!(found.items.iter().any(|p| p["name"] == "Zestia"));
    let orgs = c
        .filter(
            &endpoint::PARTIES,
            json!([{"field": "type", "operator": "is", "value": "organisation"}]),
            &[("perPage".into(), "100".into())],
        )
        .await
        .unwrap();
    assert_eq!(orgs.items.len(), 20);
    assert!(orgs.items.iter().all(|p| p["type"] == "organisation"));
    let deleted = c
        .deleted(&endpoint::PARTIES, "2000-01-01T00:00:00Z")
        .await
        .unwrap();
    assert!(!deleted["parties"].as_array().unwrap().is_empty());
    assert!(deleted.get("restrictedParties").is_some());
    let e = c.send(&Request::get("/parties/deleted")).await.unwrap_err();
    match e {
        CapsuleError::Api {
            status: 422,
            errors,
            ..
        } => {
            assert!(errors.iter().any(|fe| fe.message.contains("since")))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn each_error_status_keeps_capsules_message() {
    let sb = sandbox().await;
    let bad = client(&sb, "not-a-token");
    assert!(matches!(
        bad.send(&Request::get("/parties")).await,
        Err(CapsuleError::Api { status: 401, .. })
    ));
    let ro = client(&sb, READONLY_TOKEN);
    let e = ro
        .create(
            &endpoint::PARTIES,
            json!({"type": "organisation", "name": "X"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    let user = client(&sb, USER_TOKEN);
    let e = user
        .create(
            &endpoint::PARTY_FIELDS,
            json!({"name": "F", "type": "text"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "definitions are admin-only");
    let c = client(&sb, ADMIN_TOKEN);
    match c.send(&Request::get("/nothing/here")).await.unwrap_err() {
        CapsuleError::Api {
            status: 404,
            message,
            ..
        } => assert_eq!(message, "Could not find resource"),
        other => panic!("{other:?}"),
    }
    match c.send(&Request::get("/tracks")).await.unwrap_err() {
        CapsuleError::Api {
            status: 405,
            message,
            ..
        } => assert_eq!(message, "Method not allowed"),
        other => panic!("{other:?}"),
    }
    match c
        .create(&endpoint::TASKS, json!({"description": "No date"}))
        .await
        .unwrap_err()
    {
        CapsuleError::Api {
            status: 422,
            message,
            errors,
            ..
        } => {
            assert_eq!(message, "Validation Failed");
            assert!(
                errors.iter().any(|fe| fe.field.as_deref() == Some("dueOn")),
                "{errors:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = c
        .send(&Request::new(
            Method::Get,
            format!(
                "/parties/{}",
                (100..112)
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422), "more than 10 ids");
}

#[tokio::test]
async fn bad_configuration_is_refused_at_start_up() {
    for bad in ["ftp://x/api/v2", "not a url", ""] {
        let r = CapsuleClient::new(
            ClientOptions {
                api_url: bad.into(),
                ..Default::default()
            },
            StaticToken::new("t".to_owned().into(), "test"),
        );
        assert!(matches!(r, Err(CapsuleError::Config(_))), "{bad}");
    }
}
