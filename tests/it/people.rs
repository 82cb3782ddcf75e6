//! Custom fields, CRM users, the user directory and the deleted-records feed through the real
//! binary and MCP client against the sandbox. Request counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;

use capsule_mcp::sandbox::USER_TOKEN;
use rmcp::{ServiceExt, transport::TokioChildProcess};
use serde_json::{Value, json};

use super::common::*;

/// A stdio client whose server connects as the non-admin demo user.
async fn user_client(sb: &capsule_mcp::sandbox::Sandbox) -> Client {
    let mut cmd = command(sb, &["stdio"]);
    cmd.env("CAPSULE_ACCESS_TOKEN", USER_TOKEN);
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn capsule-mcp stdio");
    ().serve(transport).await.expect("MCP initialize")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
    v
}

#[tokio::test]
async fn lists_fields_per_entity_type_from_the_cache() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;

    let e = err(&client, "crm_list_fields", json!({})).await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("contact, account, opportunity, project"),
        "{e}"
    );
    let e = err(&client, "crm_list_fields", json!({"entity_type": "lead"})).await;
    assert_eq!(e["code"], "invalid_argument");

    let contact = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "contact"}),
    )
    .await;
    assert_eq!(
        sorted(ids(&contact)),
        ["45", "46", "48", "50", "51", "52"],
        "people's fields and the ones without a capture rule"
    );
    let account = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "account"}),
    )
    .await;
    assert_eq!(sorted(ids(&account)), ["45", "47", "48", "49", "50", "51"]);
    let sector = account["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "47")
        .unwrap();
    assert_eq!(sector["type"], "enum");
    assert_eq!(sector["label"], sector["name"]);
    assert_eq!(sector["entity_type"], "account");
    assert_eq!(sector["is_important"], true);
    assert_eq!(
        sector["options"][0],
        json!({"label": "Technology", "value": "Technology"})
    );
    let lead = account["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "51")
        .unwrap();
    assert!(lead["data_tag"]["id"].is_string(), "{lead}");
    // Contacts and accounts share one Capsule list: the second costs no request.
    assert_eq!(requests(&sb, "GET /parties/fields/definitions").await, 1);

    let opp = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "opportunity", "limit": 4}),
    )
    .await;
    assert_eq!(ids(&opp), ["60", "61", "62", "63"]);
    let types: Vec<&str> = opp["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["enum", "number", "boolean", "date"]);
    let rest = ok(
        &client,
        "crm_list_fields",
        // The entity type is required with a cursor too (equal to the cursor's).
        json!({"entity_type": "opportunity", "cursor": opp["next_cursor"]}),
    )
    .await;
    assert_eq!(ids(&rest), ["64", "65"]);
    assert_eq!(rest["result"][0]["type"], "url");
    assert_eq!(rest["result"][1]["type"], "text");
    assert!(rest["next_cursor"].is_null());
    assert_eq!(
        requests(&sb, "GET /opportunities/fields/definitions").await,
        1
    );

    let projects = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "project", "include_remote_data": true}),
    )
    .await;
    assert_eq!(projects["result_count"], 5);
    assert_eq!(projects["result"][0]["remote_data"]["id"], 70);

    let got = ok(
        &client,
        "crm_get_field",
        json!({"id": "46", "entity_type": "contact"}),
    )
    .await;
    assert_eq!(got["name"], "Date of Birth");
    assert_eq!(got["description"], "Birthday Field");
    let e = err(
        &client,
        "crm_get_field",
        json!({"id": "46", "entity_type": "account"}),
    )
    .await;
    assert_eq!(
        e["code"], "not_found",
        "a person-only field is not an account's"
    );
    let e = err(
        &client,
        "crm_get_field",
        json!({"id": "999", "entity_type": "project"}),
    )
    .await;
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().unwrap().contains("crm_list_fields"));
    assert_eq!(requests(&sb, "GET /parties/fields/definitions").await, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn creates_a_field_as_admin_and_is_refused_as_a_user() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "account"}),
    )
    .await;

    let plan = ok(
        &client,
        "crm_create_field",
        json!({"entity_type": "account", "name": "Tier", "type": "enum",
               "options": ["Gold", "Silver"], "dry_run": true}),
    )
    .await;
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["path"], "/parties/fields/definitions");
    assert_eq!(
        plan["body"],
        json!({"definition": {"name": "Tier", "type": "list", "options": ["Gold", "Silver"],
                              "captureRule": "organisation"}})
    );
    assert_eq!(requests(&sb, "POST /parties/fields/definitions").await, 0);
    let e = err(
        &client,
        "crm_create_field",
        json!({"entity_type": "account", "name": "Tier", "type": "enum"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    let e = err(
        &client,
        "crm_create_field",
        json!({"entity_type": "account", "name": "Tier", "type": "money"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");

    let made = ok(
        &client,
        "crm_create_field",
        json!({"entity_type": "account", "name": "Tier", "type": "enum",
               "options": ["Gold", "Silver"], "description": "Support tier",
               "is_important": true}),
    )
    .await;
    assert_eq!(made["type"], "enum");
    assert_eq!(made["entity_type"], "account");
    assert_eq!(made["is_important"], true);
    assert_eq!(made["options"].as_array().unwrap().len(), 2);
    let id = made["id"].as_str().unwrap().to_owned();

    // The create dropped the cached list: the new field shows at once.
    let account = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "account"}),
    )
    .await;
    assert!(ids(&account).contains(&id));
    let contact = ok(
        &client,
        "crm_list_fields",
        json!({"entity_type": "contact"}),
    )
    .await;
    assert!(
        !ids(&contact).contains(&id),
        "an account field is not a contact's"
    );
    assert_eq!(requests(&sb, "GET /parties/fields/definitions").await, 2);
    // And it works as a custom field at once.
    let acc = ok(
        &client,
        "crm_create_account",
        json!({"name": "Tiered Ltd", "custom_fields": {"Tier": "gold"}}),
    )
    .await;
    assert_eq!(acc["custom_fields"]["Tier"], "Gold");

    let proj = ok(
        &client,
        "crm_create_field",
        json!({"entity_type": "project", "name": "Risk", "type": "string"}),
    )
    .await;
    assert_eq!(proj["type"], "string");
    let got = ok(
        &client,
        "crm_get_field",
        json!({"id": proj["id"], "entity_type": "project"}),
    )
    .await;
    assert_eq!(got["name"], "Risk");
    client.cancel().await.unwrap();

    let user = user_client(&sb).await;
    let e = err(
        &user,
        "crm_create_field",
        json!({"entity_type": "contact", "name": "Nickname", "type": "string"}),
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    assert_eq!(e["status"], 403);
    assert!(e["message"].as_str().unwrap().contains("administrator"));
    user.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_and_gets_crm_users_with_roles_and_me() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(&client, "crm_list_users", json!({})).await;
    assert_eq!(all["result_count"], 3);
    assert_eq!(ids(&all), ["6", "12", "61"]);
    let ted = all["result"][2].clone();
    assert_eq!(ted["name"], "Ted Danson");
    assert_eq!(ted["username"], "ted");
    assert_eq!(ted["is_active"], true);
    assert_eq!(ted["is_admin"], true);
    assert_eq!(ted["is_account_owner"], true);
    assert_eq!(ted["timezone"], "America/Chicago");
    assert!(ted["last_login_at"].as_str().unwrap().ends_with('Z'));
    assert!(ted["email"].as_str().unwrap().contains('@'), "{ted}");
    let scott = all["result"][0].clone();
    assert_eq!(scott["is_admin"], false);
    assert_eq!(scott["is_account_owner"], false);

    let page = ok(&client, "crm_list_users", json!({"limit": 2})).await;
    assert_eq!(ids(&page), ["6", "12"]);
    let next = ok(
        &client,
        "crm_list_users",
        json!({"cursor": page["next_cursor"]}),
    )
    .await;
    assert_eq!(ids(&next), ["61"]);
    assert!(next["next_cursor"].is_null());

    let maia = ok(&client, "crm_get_user", json!({"id": "12"})).await;
    assert_eq!(maia["name"], "Maia Hilton");
    // One GET /users for all of that: the list is cached and paged locally.
    assert_eq!(requests(&sb, "GET /users").await, 1);

    let me = ok(&client, "crm_get_user", json!({"id": "me"})).await;
    assert_eq!(me["id"], "61");
    assert_eq!(requests(&sb, "GET /users/current").await, 1);
    let e = err(&client, "crm_get_user", json!({"id": "4040"})).await;
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().unwrap().contains("crm_list_users"));
    let e = err(&client, "crm_get_user", json!({"id": "ted"})).await;
    assert_eq!(e["code"], "invalid_argument");
    let raw = ok(
        &client,
        "crm_get_user",
        json!({"id": "6", "include_remote_data": true}),
    )
    .await;
    assert_eq!(raw["remote_data"]["username"], "scottspacey");
    assert_eq!(requests(&sb, "GET /users").await, 1);
    client.cancel().await.unwrap();

    let user = user_client(&sb).await;
    let me = ok(&user, "crm_get_user", json!({"id": "me"})).await;
    assert_eq!(me["id"], "6");
    assert_eq!(me["is_admin"], false);
    user.cancel().await.unwrap();
}

#[tokio::test]
async fn directory_users_carry_groups_roles_and_contact_details() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let all = ok(&client, "directory_list_users", json!({})).await;
    assert_eq!(ids(&all), ["6", "12", "61"]);
    let by_id = |id: &str| -> Value {
        all["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()
            .clone()
    };
    let ted = by_id("61");
    assert_eq!(ted["first_name"], "Ted");
    assert_eq!(ted["last_name"], "Danson");
    assert_eq!(ted["status"], "active");
    assert_eq!(ted["roles"], json!(["account_owner", "admin", "user"]));
    assert_eq!(
        ted["groups"],
        json!([{"id": "5", "name": "Sales"}, {"id": "9", "name": "Delivery"}])
    );
    assert_eq!(ted["languages"], json!(["en_US"]));
    assert_eq!(ted["emails"][0]["is_primary"], true);
    assert!(ted["emails"][0]["email"].as_str().unwrap().contains('@'));
    assert!(ted["avatar"].as_str().unwrap().starts_with("http"));
    let scott = by_id("6");
    assert_eq!(scott["roles"], json!(["user"]));
    assert_eq!(scott["groups"], json!([{"id": "5", "name": "Sales"}]));
    let maia = by_id("12");
    assert_eq!(maia["groups"], json!([{"id": "9", "name": "Delivery"}]));
    assert_eq!(maia["timezone"], "Europe/Dublin");

    let got = ok(&client, "directory_get_user", json!({"id": "12"})).await;
    assert_eq!(got, maia);
    let me = ok(&client, "directory_get_user", json!({"id": "me"})).await;
    assert_eq!(me["id"], "61");
    assert_eq!(me["groups"], ted["groups"]);
    let e = err(&client, "directory_get_user", json!({"id": "77"})).await;
    assert_eq!(e["code"], "not_found");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("directory_list_users")
    );

    // Users and teams are cached: one request each for all of the above, shared with the
    // CRM user tools.
    ok(&client, "crm_list_users", json!({})).await;
    assert_eq!(requests(&sb, "GET /users").await, 1);
    assert_eq!(requests(&sb, "GET /teams").await, 1);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn lists_deleted_and_restricted_records_since_a_time() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let e = err(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert!(e["message"].as_str().unwrap().contains("since"));
    let e = err(
        &client,
        "crm_list_deleted",
        json!({"since": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("contact, account"));
    let e = err(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": "last week"}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument");
    assert_eq!(
        total_requests(&sb).await,
        0,
        "bad arguments cost no request"
    );

    let since = "2000-01-01T00:00:00Z";
    let contacts = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": since}),
    )
    .await;
    let rows = contacts["result"].as_array().unwrap();
    assert_eq!(ids(&contacts), ["95", "96", "97"]);
    assert_eq!(rows[0]["restricted"], false);
    assert!(rows[0]["deleted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(rows[2]["restricted"], true);
    assert!(rows[2]["deleted_at"].is_null());
    // Party tombstones go to accounts too; the restricted person does not.
    let accounts = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "account", "since": since}),
    )
    .await;
    assert_eq!(ids(&accounts), ["95", "96"]);
    let opp = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "opportunity", "since": since}),
    )
    .await;
    assert_eq!(ids(&opp), ["290"]);
    let proj = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "project", "since": since, "include_remote_data": true}),
    )
    .await;
    assert_eq!(ids(&proj), ["490"]);
    assert_eq!(proj["result"][0]["remote_data"]["id"], 490);

    // `since` filters: only what was deleted after the first tombstone.
    let later = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": rows[0]["deleted_at"]}),
    )
    .await;
    assert_eq!(ids(&later), ["96", "97"]);

    // Pages: restricted records come once, on the first page, and `limit` holds for them
    // too: the first page is cut and the cursor resumes inside it.
    let first = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": since, "limit": 1}),
    )
    .await;
    assert_eq!(ids(&first), ["95"]);
    let second = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": since, "cursor": first["next_cursor"]}),
    )
    .await;
    assert_eq!(ids(&second), ["97"]);
    let third = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": since, "cursor": second["next_cursor"]}),
    )
    .await;
    assert_eq!(ids(&third), ["96"]);
    assert!(third["next_cursor"].is_null());

    // A deletion through the tools shows up in the feed.
    let gone = ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&client, "crm_delete_contact", json!({"id": gone})).await;
    let after = ok(
        &client,
        "crm_list_deleted",
        json!({"entity_type": "contact", "since": since, "fetch_all": true}),
    )
    .await;
    assert!(ids(&after).contains(&gone));
    assert!(after["next_cursor"].is_null());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_same_update_twice_stores_one_copy() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = ok(&client, "crm_list_contacts", json!({"limit": 1})).await["result"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = json!({
        "id": id,
        "email_addresses": [{"email": "twice@example.com", "type": "Work"}],
        "phone_numbers": [{"number": "+44 7700 900123"}],
        "urls": [{"url": "https://twice.example"}],
        "addresses": [{"street_1": "1 Twice Road", "city": "Leeds"}],
        "tags": ["Twice"],
    });
    ok(&client, "crm_update_contact", update.clone()).await;
    // Again, with the email in another case and the phone written another way.
    let mut again = update.clone();
    again["email_addresses"][0]["email"] = json!("TWICE@example.com");
    again["phone_numbers"][0]["number"] = json!("+447700900123");
    let got = ok(&client, "crm_update_contact", again).await;
    let count = |list: &str, key: &str, needle: &str| {
        got[list]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter(|r| {
                        r[key]
                            .as_str()
                            .is_some_and(|v| v.to_lowercase().contains(needle))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(count("email_addresses", "email", "twice@"), 1, "{got}");
    assert_eq!(count("phone_numbers", "number", "900123"), 1, "{got}");
    assert_eq!(count("urls", "url", "twice.example"), 1, "{got}");
    assert_eq!(count("addresses", "street_1", "twice road"), 1, "{got}");
    let tags: Vec<&str> = got["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().or(t.as_str()))
        .filter(|t| *t == "Twice")
        .collect();
    assert_eq!(tags.len(), 1, "{got}");
    // Sent a third time unchanged: nothing new to write, so no PUT reaches Capsule.
    let puts = requests(&sb, "PUT /parties/{id}").await;
    ok(&client, "crm_update_contact", update).await;
    assert_eq!(requests(&sb, "PUT /parties/{id}").await, puts);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rows_are_changed_and_removed_by_their_value() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let created = ok(
        &client,
        "crm_create_contact",
        json!({"first_name": "Row", "last_name": "Value",
               "email_addresses": [{"email": "row@example.com", "type": "Work"},
                                   {"email": "keep@example.com", "type": "Home"}],
               "urls": [{"url": "https://www.linkedin.com/in/row", "type": "LinkedIn"}]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Whole records carry no row ids; the service name was read in its usual spelling.
    assert!(
        created["email_addresses"][0].get("id").is_none(),
        "{created}"
    );
    assert_eq!(created["urls"][0]["type"], "LINKED_IN");
    let emails = |r: &Value| -> Vec<(String, String)> {
        r["email_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["email"].as_str().unwrap().to_owned(),
                    e["type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    // The same address with another type changes that row's type: no second row.
    let got = ok(
        &client,
        "crm_update_contact",
        json!({"id": id, "email_addresses": [{"email": "ROW@example.com", "type": "Home"}]}),
    )
    .await;
    assert_eq!(
        emails(&got),
        vec![
            ("row@example.com".to_owned(), "Home".to_owned()),
            ("keep@example.com".to_owned(), "Home".to_owned())
        ]
    );
    // A dry run names the row Capsule would be told to delete, by its id.
    let puts = requests(&sb, "PUT /parties/{id}").await;
    let plan = ok(
        &client,
        "crm_update_contact",
        json!({"id": id, "dry_run": true,
               "email_addresses": [{"email": "row@example.com", "delete": true}]}),
    )
    .await;
    let row = &plan["body"]["party"]["emailAddresses"][0];
    assert!(row["id"].is_number() && row["_delete"] == true, "{plan}");
    assert_eq!(requests(&sb, "PUT /parties/{id}").await, puts);
    // Removed by value.
    let got = ok(
        &client,
        "crm_update_contact",
        json!({"id": id, "email_addresses": [{"email": "row@example.com", "delete": true}]}),
    )
    .await;
    assert_eq!(
        emails(&got),
        vec![("keep@example.com".to_owned(), "Home".to_owned())]
    );
    // A row the record does not have cannot be removed: refused, nothing sent.
    let puts = requests(&sb, "PUT /parties/{id}").await;
    let e = err(
        &client,
        "crm_update_contact",
        json!({"id": id, "email_addresses": [{"email": "gone@example.com", "delete": true}]}),
    )
    .await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("gone@example.com"),
        "{e}"
    );
    assert_eq!(requests(&sb, "PUT /parties/{id}").await, puts);
    // An unknown web service is refused naming the known ones.
    let e = err(
        &client,
        "crm_update_contact",
        json!({"id": id, "urls": [{"url": "https://x.example", "type": "Myspace"}]}),
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("LINKED_IN"), "{e}");
    client.cancel().await.unwrap();
}
