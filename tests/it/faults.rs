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
    // What is left spread evenly over the rest of the hour: at most 3600 s / 5 apart.
    assert!((1..=720).contains(&wait), "retry in {wait} s");
    assert!(
        requests(&sb, route).await < 11,
        "the hourly budget was not spent to the wall"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_filtered_list_read_by_post_is_retried_like_any_read() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &["--request-timeout", "1", "--call-budget", "10"]).await;
    let route = "POST /parties/filters/results";
    for fault in [
        json!({"route": route, "status": 502, "times": 1}),
        json!({"route": route, "status": 503, "times": 1}),
        json!({"route": route, "delay_ms": 3000, "times": 1}),
    ] {
        admin(&sb, "faults", fault.clone()).await;
        let before = requests(&sb, route).await;
        let list = ok(&client, "crm_list_contacts", json!({"limit": 3})).await;
        assert_eq!(list["result_count"], 3, "{fault}");
        assert_eq!(requests(&sb, route).await, before + 2, "{fault}: one retry");
    }
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 500, "times": 5}),
    )
    .await;
    let before = requests(&sb, route).await;
    let e = err(&client, "crm_list_accounts", json!({"limit": 3})).await;
    assert_eq!(e["code"], "upstream_error", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        !message.contains("create") && !message.contains("duplicate"),
        "a read is not a create: {message}"
    );
    assert_eq!(
        requests(&sb, route).await,
        before + 3,
        "a read's three attempts"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_write_refused_with_429_is_sent_again_after_the_reset() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    let route = "PUT /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 1}),
    )
    .await;
    let before = requests(&sb, route).await;
    let updated = ok(
        &client,
        "crm_update_contact",
        json!({"id": id, "title": "Refused once"}),
    )
    .await;
    assert_eq!(updated["title"], "Refused once");
    assert_eq!(
        requests(&sb, route).await,
        before + 2,
        "refused before acting, then sent again"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_burst_of_paced_calls_books_no_slots_and_tells_the_real_budget() {
    let sb = sandbox().await;
    // 12 an hour: from 5 remaining on, requests are spread over the time to the reset.
    admin(&sb, "config", json!({"rate_limit_per_hour": 12})).await;
    let client = stdio_client(&sb, &["--call-budget", "2"]).await;
    let id = a_contact_id(&client).await;
    let route = "GET /parties/{id}";
    let mut first = None;
    for _ in 0..12 {
        let r = call(&client, "crm_get_contact", json!({"id": id})).await;
        if r.is_error == Some(true) {
            first = Some(error_of(&r));
            break;
        }
    }
    let first = first.expect("pacing refused a call");
    assert_eq!(first["code"], "rate_limited", "{first}");
    let sent = total_requests(&sb).await;
    let remaining = 12 - sent;
    let message = first["message"].as_str().unwrap().to_owned();
    assert!(
        !message.contains("4,000") && !message.contains("used up"),
        "the limit is 12 and not used up: {message}"
    );
    assert!(message.contains("12"), "names the real limit: {message}");
    assert!(
        message.contains(&format!("{remaining} ")),
        "says {remaining} remain: {message}"
    );
    let wait = first["retry_after_seconds"].as_u64().unwrap();
    // A burst of refused calls: nothing sent, and the wait does not grow with each refusal.
    let before = requests(&sb, route).await;
    let mut waits = Vec::new();
    for _ in 0..40 {
        let e = err(&client, "crm_get_contact", json!({"id": id})).await;
        assert_eq!(e["code"], "rate_limited");
        waits.push(e["retry_after_seconds"].as_u64().unwrap());
    }
    assert_eq!(
        requests(&sb, route).await,
        before,
        "a refused call sends nothing"
    );
    let max = waits.iter().copied().max().unwrap();
    assert!(
        max <= wait + 2,
        "refused calls booked no slots: first {wait} s, then up to {max} s ({waits:?})"
    );
    // Evenly over the rest of the hour: about 3600 / remaining seconds apart.
    let even = 3600 / remaining.max(1);
    assert!(
        wait <= even + 5,
        "the wait {wait} s fits an even spread ({even} s a request)"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn fetch_all_pages_at_the_largest_page_whatever_the_limit() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let route = "POST /parties/filters/results";
    let before = requests(&sb, route).await;
    let all = ok(
        &client,
        "crm_list_contacts",
        json!({"fetch_all": true, "limit": 1}),
    )
    .await;
    assert_eq!(all["result_count"], 60);
    assert_eq!(
        requests(&sb, route).await,
        before + 1,
        "60 contacts in one page of 100, not 60 pages of 1"
    );
    let some = ok(
        &client,
        "crm_list_contacts",
        json!({"fetch_all": true, "max_records": 7}),
    )
    .await;
    assert_eq!(some["result_count"], 7, "cut to max_records");
    let rest = ok(
        &client,
        "crm_list_contacts",
        json!({"cursor": some["next_cursor"], "fetch_all": true}),
    )
    .await;
    assert_eq!(rest["result_count"], 53, "the cursor resumes after the cut");
    let mut seen: Vec<String> = ids(&some);
    seen.extend(ids(&rest));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 60, "no record twice, none missed");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_proxy_does_not_send_a_write_again_even_after_a_429() {
    let sb = sandbox().await;
    let client = stdio_client(&sb, &[]).await;
    let id = a_contact_id(&client).await;
    let route = "PUT /parties/{id}";
    admin(
        &sb,
        "faults",
        json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 1}),
    )
    .await;
    let before = requests(&sb, route).await;
    let e = err(
        &client,
        "capsule_api_request",
        json!({"method": "PUT", "path": format!("/parties/{id}"),
               "body": {"party": {"about": "once"}}}),
    )
    .await;
    assert_eq!(e["code"], "rate_limited", "{e}");
    assert!(e["retry_after_seconds"].as_u64().is_some());
    assert_eq!(
        requests(&sb, route).await,
        before + 1,
        "sent once, as promised"
    );
    client.cancel().await.unwrap();
}
