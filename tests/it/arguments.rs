//! Arguments through the real protocol: every bad input is refused before any request reaches
//! Capsule (counted by the sandbox), with a message that names the argument and the JSON type;
//! the forms clients commonly send (ids as numbers) are read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::*;

fn message(e: &Value) -> &str {
    e["message"].as_str().unwrap()
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let cases = [
        (
            "crm_get_contact",
            json!({"id": -5}),
            "`id` must be a contact id",
        ),
        (
            "crm_get_contact",
            json!({"id": 1.5}),
            "argument `id` must be a record id",
        ),
        (
            "crm_get_contact",
            json!({}),
            "missing required argument `id`",
        ),
        (
            "crm_list_contacts",
            json!({"limit": "ten"}),
            "argument `limit` must be a whole number; got the string \"ten\"",
        ),
        (
            "crm_list_contacts",
            json!({"limit": 1000}),
            "`limit` must be between 1 and 100",
        ),
        (
            "crm_list_contacts",
            json!({"search": "x".repeat(70_000)}),
            "argument `search` is too long: 70000 characters",
        ),
        (
            "crm_create_account",
            json!({"dry_run": true}),
            "missing required argument `name`",
        ),
        (
            "crm_create_task",
            json!({"subject": "Call back"}),
            "missing required argument `due_date`",
        ),
        (
            "crm_list_fields",
            json!({}),
            "missing required argument `entity_type`: one of contact, account",
        ),
        (
            "crm_create_contact",
            json!({"first_name": "Ann", "email_addresses": [{"email": "ann-at-example"}]}),
            "argument `email_addresses[0].email` must be an email address",
        ),
        (
            "crm_create_contact",
            json!({"first_name": "Ann", "phone_numbers": [{"number": "1", "type": "Pager"}]}),
            "argument `phone_numbers[0].type` must be one of",
        ),
        (
            "crm_create_contact",
            json!({"first_name": "Ann", "remote_data": {"firstName": "Bob"}}),
            "`remote_data.firstName` would replace",
        ),
        (
            "crm_list_contacts",
            json!({"fetch_all": "yes"}),
            "must be true or false",
        ),
        (
            "crm_get_contact",
            json!({"id": "1", "bogus": 1}),
            "unknown argument `bogus`",
        ),
    ];
    let before = total_requests(&sb).await;
    for (tool, args, expected) in &cases {
        let e = err(&client, tool, args.clone()).await;
        assert_eq!(e["code"], "invalid_argument", "{tool} {e}");
        assert!(
            message(&e).contains(expected),
            "{tool}: {:?} should contain {expected:?}",
            message(&e)
        );
        for rust in ["u32", "i64", "u64", "usize", "f64"] {
            assert!(!message(&e).contains(rust), "{tool}: Rust type in {e}");
        }
    }
    assert_eq!(
        total_requests(&sb).await,
        before,
        "no bad input reached Capsule"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn ids_arrive_as_numbers_and_enums_in_any_case() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let page = ok(&client, "crm_list_contacts", json!({"limit": 1})).await;
    let id: i64 = page["result"][0]["id"].as_str().unwrap().parse().unwrap();
    let got = ok(&client, "crm_get_contact", json!({ "id": id })).await;
    assert_eq!(got["id"], id.to_string());
    // Built-in engagement types have negative ids.
    let call = ok(&client, "crm_get_engagement_type", json!({"id": -3})).await;
    assert_eq!(call["name"], "Call");
    let plan = ok(
        &client,
        "crm_update_contact",
        json!({"id": id, "salutation": "miss", "email_addresses": [{"email": "a@example.com", "type": "work"}], "dry_run": true}),
    )
    .await;
    assert_eq!(plan["body"]["party"]["title"], "Miss", "{plan}");
    assert_eq!(
        plan["body"]["party"]["emailAddresses"][0]["type"], "Work",
        "{plan}"
    );
    let e = err(
        &client,
        "crm_update_contact",
        json!({"id": id, "salutation": "Professor", "dry_run": true}),
    )
    .await;
    assert!(message(&e).contains("Mr, Mrs, Ms, Dr, Master, Miss"), "{e}");
    client.cancel().await.unwrap();
}
