//! Rate limits, retries, timeouts and cancellation, driven by the sandbox's fault injection.
//! Request counts come from the sandbox's stats, never from the client's own counters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::json;

use super::common::*;

async fn a_contact_id(client: &Peer) -> String {
    ids(&ok(client, "crm_list_contacts", json!({"limit": 1})).await)[0].clone()
}

#[tokio::test]
async fn a_429_is_waited_out_with_no_request_before_the_reset() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 3}),
    )
    .await;
    let before = requests(&sb, route).await;
    let started = Instant::now();
    let call = tokio::spawn({
        let client = client.clone();
        let id = id.clone();
        async move { ok(&client, "crm_get_contact", json!({"id": id})).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        requests(&sb, route).await,
        before + 1,
        "nothing sent inside the exhausted window"
    );
    let got = call.await.unwrap();
    assert_eq!(got["id"], id);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the reset"
    );
    assert_eq!(
        requests(&sb, route).await,
        before + 2,
        "one refused, one after the reset"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_reset_beyond_the_budget_returns_the_retry_time_without_retrying() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &["--call-budget", "3"]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 40}),
    )
    .await;
    let before = requests(&sb, route).await;
    let e = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(e["status"], 429);
    assert_eq!(e["code"], "rate_limited");
    let retry = e["retry_after_seconds"].as_u64().unwrap();
    assert!((38..=42).contains(&retry), "retry_after_seconds {retry}");
    assert_eq!(requests(&sb, route).await, before + 1, "no retry");
    // The window is known to be exhausted: a second call is refused without a request.
    let e = err(&client, "crm_list_contacts", json!({"limit": 1})).await;
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(
        requests(&sb, "POST /parties/filters/results").await,
        1,
        "only the first list call"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn concurrent_calls_send_nothing_during_an_exhausted_window() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 3}),
    )
    .await;
    let before = requests(&sb, route).await;
    let first = tokio::spawn({
        let (client, id) = (client.clone(), id.clone());
        async move { ok(&client, "crm_get_contact", json!({"id": id})).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut others = Vec::new();
    for _ in 0..20 {
        let (client, id) = (client.clone(), id.clone());
        others.push(tokio::spawn(async move {
            ok(&client, "crm_get_contact", json!({"id": id})).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        requests(&sb, route).await,
        before + 1,
        "20 calls sent nothing before the reset"
    );
    first.await.unwrap();
    for o in others {
        assert_eq!(o.await.unwrap()["id"], id);
    }
    assert_eq!(requests(&sb, route).await, before + 22);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn server_errors_on_get_are_retried_at_most_twice() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 503, "times": 2}),
    )
    .await;
    let before = requests(&sb, route).await;
    ok(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(
        requests(&sb, route).await,
        before + 3,
        "two 503s then success"
    );

    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 500, "times": 5}),
    )
    .await;
    let before = requests(&sb, route).await;
    let e = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(e["status"], 500);
    assert_eq!(e["code"], "upstream_error");
    assert_eq!(
        requests(&sb, route).await,
        before + 3,
        "the first attempt and two retries"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_failed_post_is_never_retried_and_says_the_outcome_is_unknown() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    admin(
        &sb,
        "faults",
        json!({"route": "POST /parties", "status": 500, "times": 3}),
    )
    .await;
    let e = err(&client, "crm_create_account", json!({"name": "Maybe Ltd"})).await;
    assert_eq!(e["code"], "outcome_unknown");
    assert!(e["message"].as_str().unwrap().contains("Search for it"));
    assert_eq!(
        requests(&sb, "POST /parties").await,
        1,
        "a POST is sent once"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_hung_capsule_hits_the_timeout() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &["--request-timeout", "1", "--call-budget", "3"]).await;
    let id = a_contact_id(&client).await;
    admin(
        &sb,
        "faults",
        json!({"route": "GET /parties/{id}", "delay_ms": 30000, "times": 5}),
    )
    .await;
    let started = Instant::now();
    let e = err(&client, "crm_get_contact", json!({"id": id})).await;
    assert_eq!(e["code"], "timeout");
    assert_eq!(e["status"], 504);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "abandoned in time: {:?}",
        started.elapsed()
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_cancelled_call_stops_its_request() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    admin(
        &sb,
        "faults",
        json!({"route": "GET /parties/{id}", "delay_ms": 20000, "times": 1}),
    )
    .await;
    let aborted_before = stats(&sb).await["aborted"].as_u64().unwrap_or(0);
    // Dropping the client's call future sends notifications/cancelled.
    let r = tokio::time::timeout(
        Duration::from_millis(800),
        call(&client, "crm_get_contact", json!({"id": id})),
    )
    .await;
    assert!(r.is_err(), "the call was still running");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let aborted = stats(&sb).await["aborted"].as_u64().unwrap_or(0);
        if aborted > aborted_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox never saw the connection close"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server is still healthy.
    ok(&client, "crm_list_contacts", json!({"limit": 1})).await;
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_http_client_going_away_in_stateless_mode_stops_the_request() {
    let sb = sandbox().await;
    let (_child, url) = http_server(&sb, &["--stateless"], &[]).await;
    admin(
        &sb,
        "faults",
        json!({"route": "GET /parties/{id}", "delay_ms": 20000, "times": 1}),
    )
    .await;
    let aborted_before = stats(&sb).await["aborted"].as_u64().unwrap_or(0);
    let call = reqwest::Client::new()
        .post(&url)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-06-18")
        .timeout(Duration::from_millis(800))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "crm_get_contact", "arguments": {"id": "120"}}}))
        .send()
        .await;
    assert!(call.is_err(), "the client gave up before the answer");
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats(&sb).await["aborted"].as_u64().unwrap_or(0) <= aborted_before {
        assert!(
            Instant::now() < deadline,
            "the sandbox never saw the connection close"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_low_remaining_budget_is_paced_not_spent() {
    let sb = sandbox().await;
    // 12 an hour: from 5 remaining on, requests are spread over the time to the reset.
    admin(&sb, "config", json!({"rate_limit_per_hour": 12})).await;
    let client = stdio_client(&sb, &["--call-budget", "3"]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    let mut paced = None;
    for _ in 0..10 {
        let before = requests(&sb, route).await;
        let r = call(&client, "crm_get_contact", json!({"id": id})).await;
        if r.is_error == Some(true) {
            let e = error_of(&r);
            assert_eq!(e["code"], "rate_limited", "{e}");
            assert_eq!(
                requests(&sb, route).await,
                before,
                "a paced call sends nothing"
            );
            paced = Some(e["retry_after_seconds"].as_u64().unwrap());
            break;
        }
    }
    let wait = paced.expect("pacing stopped the calls before the window ran out");
    assert!((1..=30).contains(&wait), "retry in {wait} s");
    assert!(
        requests(&sb, route).await < 11,
        "the hourly budget was not spent to the wall"
    );
    client.cancel().await.unwrap();
}
