//! Integration tests for the sandbox Capsule, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use capsule_mcp::sandbox::{ADMIN_TOKEN, READONLY_TOKEN, Sandbox, SandboxOptions, USER_TOKEN};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

struct T {
    sb: Sandbox,
    c: reqwest::Client,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, k: &str) -> Option<String> {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let part = part.trim();
            if part.ends_with("rel=\"next\"") {
                Some(part[1..part.find('>')?].to_string())
            } else {
                None
            }
        })
    }

    fn first_error(&self) -> String {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn start() -> T {
    start_with(SandboxOptions::default()).await
}

async fn start_with(opts: SandboxOptions) -> T {
    let sb = Sandbox::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T { sb, c }
}

impl T {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/_sandbox") || path.starts_with("/oauth") {
            format!("{}{path}", self.sb.base_url())
        } else {
            format!("{}{path}", self.sb.api_url())
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.c.request(method, self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: &str) -> Resp {
        let mut rb = self
            .c
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn form(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let r = self
            .c
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, Some(ADMIN_TOKEN), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(ADMIN_TOKEN), Some(body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(ADMIN_TOKEN), Some(body))
            .await
    }

    async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, Some(ADMIN_TOKEN), None)
            .await
    }

    async fn admin(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, None, Some(body)).await
    }

    async fn stats(&self) -> Value {
        self.send(Method::GET, "/_sandbox/stats", None, None)
            .await
            .body
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn key_set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_page_through_link_headers() {
    let t = start().await;
    let mut url = "/parties?perPage=30&embed=tags".to_string();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = t.get(&url).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json;charset=UTF-8")
        );
        for p in r.body["parties"].as_array().unwrap() {
            assert!(p.get("tags").is_some(), "embed=tags kept on later pages");
            assert!(p.get("fields").is_none());
        }
        all.extend(ids(&r.body["parties"]));
        pages += 1;
        match r.next_link() {
            Some(next) => {
                assert!(next.starts_with(&t.sb.api_url()), "{next}");
                assert!(next.contains("embed=tags"));
                assert_eq!(r.header("x-pagination-has-more").as_deref(), Some("true"));
                url = next;
            }
            None => {
                assert_eq!(r.header("x-pagination-has-more").as_deref(), Some("false"));
                assert!(r.header("link").unwrap().contains("rel=\"prev\""));
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all.len(), 80);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "ascending ids without duplicates");

    // Past the end: empty list.
    let r = t.get("/parties?page=9").await;
    assert_eq!(r.body["parties"].as_array().unwrap().len(), 0);
    // Default page size is 50.
    let r = t.get("/parties").await;
    assert_eq!(r.body["parties"].as_array().unwrap().len(), 50);
    // perPage bounds: 422.
    for bad in [
        "/parties?perPage=0",
        "/parties?perPage=101",
        "/parties/120/entries?perPage=51",
    ] {
        let r = t.get(bad).await;
        assert_eq!(r.status, 422, "{bad}");
        assert!(r.first_error().contains("perPage"));
    }
    // Entries are newest first.
    let r = t.get("/entries?perPage=100").await;
    let at: Vec<&str> = r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entryAt"].as_str().unwrap())
        .collect();
    let mut s = at.clone();
    s.sort_by(|a, b| b.cmp(a));
    assert_eq!(at, s);
}

#[tokio::test]
async fn show_and_multi_show() {
    let t = start().await;
    let r = t.get("/parties/120").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["party"]["firstName"], "Ted");
    let r = t.get("/parties/120,121,100").await;
    assert_eq!(ids(&r.body["parties"]), vec![120, 121, 100]);
    let r = t.get("/parties/1,2,3,4,5,6,7,8,9,10,11").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.first_error(), "too many ids");
    let r = t.get("/parties/99999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "party not found");
    for path in [
        "/opportunities/300,301",
        "/kases/500,501",
        "/tasks/700,701",
        "/pipelines/10,11",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let list = r.body.as_object().unwrap().values().next().unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2, "{path}");
    }
    let r = t.get("/users/current").await;
    assert_eq!(r.body["user"]["id"], 61);
    let r = t
        .send(Method::GET, "/users/current", Some(USER_TOKEN), None)
        .await;
    assert_eq!(r.body["user"]["username"], "scottspacey");
    let r = t.get("/teams?embed=memberships").await;
    assert!(r.body["teams"][0]["memberships"][0]["user"]["id"].is_number());
    let r = t.get("/milestones").await;
    assert!(
        r.body["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["pipeline"]["id"] == 10)
    );
    let r = t.get("/pipelines/11/milestones").await;
    assert_eq!(r.body["milestones"].as_array().unwrap().len(), 5);
    let r = t.get("/boards/7/stages").await;
    assert_eq!(r.body["stages"][0]["name"], "Project Brief");
    let r = t.get("/activitytypes").await;
    let at_ids = ids(&r.body["activityTypes"]);
    for id in [-1, -2, -3, -4] {
        assert!(at_ids.contains(&id));
    }
    let r = t.get("/categories/47").await;
    assert_eq!(
        r.body["category"],
        json!({"id":47,"name":"Billing","colour":"#d36c00"})
    );
    for path in [
        "/countries",
        "/currencies",
        "/site",
        "/titles",
        "/lostreasons",
        "/parties/tags",
        "/kases/fields/definitions",
    ] {
        assert_eq!(t.get(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn records_have_the_reference_key_sets() {
    let t = start().await;
    let person = t.get("/parties/121").await.body["party"].clone();
    assert_eq!(
        keys(&person),
        key_set(&[
            "id",
            "owner",
            "team",
            "type",
            "about",
            "firstName",
            "lastName",
            "jobTitle",
            "createdAt",
            "updatedAt",
            "organisation",
            "lastContactedAt",
            "pictureURL",
            "title",
            "enrichment",
            "phoneNumbers",
            "addresses",
            "emailAddresses",
            "websites",
        ])
    );
    let org = t.get("/parties/100").await.body["party"].clone();
    assert_eq!(
        keys(&org),
        key_set(&[
            "id",
            "owner",
            "team",
            "type",
            "about",
            "name",
            "createdAt",
            "updatedAt",
            "lastContactedAt",
            "pictureURL",
            "enrichment",
            "phoneNumbers",
            "addresses",
            "emailAddresses",
            "websites",
        ])
    );
    assert_eq!(
        keys(&person["owner"]),
        key_set(&["id", "deleted", "username", "pictureURL", "name"])
    );
    let full = t
        .get("/parties/121?embed=tags,fields,missingImportantFields,bogus")
        .await
        .body["party"]
        .clone();
    assert!(full["tags"].is_array() && full["fields"].is_array());
    assert!(full["missingImportantFields"].is_boolean());
    let opp = t.get("/opportunities/301").await.body["opportunity"].clone();
    assert_eq!(
        keys(&opp),
        key_set(&[
            "id",
            "name",
            "description",
            "owner",
            "team",
            "party",
            "lostReason",
            "milestone",
            "lastOpenMilestone",
            "value",
            "expectedCloseOn",
            "probability",
            "durationBasis",
            "duration",
            "closedOn",
            "lastContactedAt",
            "lastStageChangedAt",
            "createdAt",
            "updatedAt",
        ])
    );
    let kase = t.get("/kases/500").await.body["kase"].clone();
    assert_eq!(
        keys(&kase),
        key_set(&[
            "id",
            "owner",
            "team",
            "party",
            "status",
            "opportunity",
            "stage",
            "createdAt",
            "updatedAt",
            "description",
            "name",
            "closedOn",
            "lastContactedAt",
            "expectedCloseOn",
            "startOn",
        ])
    );
    let task = t.get("/tasks/701").await.body["task"].clone();
    assert_eq!(
        keys(&task),
        key_set(&[
            "id",
            "category",
            "description",
            "detail",
            "dueTime",
            "status",
            "party",
            "opportunity",
            "owner",
            "daysAfter",
            "taskDelayRule",
            "nextTask",
            "active",
            "createdAt",
            "updatedAt",
            "dueOn",
            "completedBy",
            "completedAt",
            "kase",
            "taskDayDelayRule",
            "overrideToCurrentUser",
            "repeat",
            "hasTrack",
        ])
    );
    let entries = t.get("/parties/100/entries").await.body["entries"].clone();
    let note = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "note")
        .unwrap();
    assert_eq!(
        keys(note),
        key_set(&[
            "id",
            "type",
            "creator",
            "activityType",
            "createdAt",
            "updatedAt",
            "content",
            "entryAt",
            "party",
        ])
    );
    let defs = t.get("/kases/fields/definitions").await.body["definitions"].clone();
    assert_eq!(
        keys(&defs[0]),
        key_set(&[
            "id",
            "type",
            "description",
            "important",
            "displayOrder",
            "name",
            "tag",
            "captureRule",
            "options",
        ])
    );
    let users = t.get("/users").await.body["users"].clone();
    assert_eq!(
        keys(&users[0]),
        key_set(&[
            "id",
            "locale",
            "currency",
            "status",
            "party",
            "username",
            "timezone",
            "lastLoginAt",
            "name",
            "taskReminder",
            "roles",
        ])
    );
    let ms = t.get("/pipelines/10/milestones").await.body["milestones"].clone();
    assert_eq!(
        keys(&ms[0]),
        key_set(&[
            "id",
            "name",
            "description",
            "complete",
            "probability",
            "pipeline",
            "daysUntilStale",
            "createdAt",
            "updatedAt",
        ])
    );
}

#[tokio::test]
async fn create_update_delete_party_with_nested_merges() {
    let t = start().await;
    let r = t
        .post(
            "/parties",
            json!({"party": {
                "type": "person", "firstName": "Scott", "lastName": "Tester", "title": "dr",
                "organisation": {"id": 103},
                "emailAddresses": [{"type": "Work", "address": "scott@tester.example"}],
                "phoneNumbers": [{"type": "Mobile", "number": "773-338-7786"}],
                "addresses": [{"type": "Office", "city": "Chicago", "country": "USA"}],
                "websites": [{"service": "TWITTER", "address": "capsulecrm"}],
                "tags": [{"name": "vip"}, {"name": "Brand New Tag"}],
                "fields": [{"definition": {"id": 46}, "value": "1980-05-01"}]
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let p = &r.body["party"];
    let id = p["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/parties/{id}", t.sb.api_url())
    );
    assert_eq!(p["title"], "Dr");
    assert_eq!(p["owner"]["id"], 61);
    assert_eq!(p["organisation"]["name"], "Zestia");
    assert_eq!(p["addresses"][0]["country"], "United States");
    assert_eq!(p["websites"][0]["url"], "https://twitter.com/capsulecrm");
    let created_updated = p["updatedAt"].as_str().unwrap().to_string();
    let email_id = p["emailAddresses"][0]["id"].as_i64().unwrap();

    let r = t.get(&format!("/parties/{id}?embed=tags,fields")).await;
    let tags: Vec<&str> = r.body["party"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["VIP", "Brand New Tag"]);
    let tag_list = t.get("/parties/tags").await;
    assert!(
        tag_list.body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "Brand New Tag")
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {
                "jobTitle": "CEO",
                "emailAddresses": [
                    {"id": email_id, "_delete": true},
                    {"type": "Home", "address": "home@tester.example"}
                ],
                "phoneNumbers": [{"id": 1, "_destroy": true}]
            }}),
        )
        .await;
    // _destroy is ignored, but id 1 is not one of this party's rows → 404.
    assert_eq!(r.status, 404);
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {
                "jobTitle": "CEO",
                "emailAddresses": [
                    {"id": email_id, "_delete": true},
                    {"type": "Home", "address": "home@tester.example"}
                ]
            }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &r.body["party"];
    assert_eq!(p["jobTitle"], "CEO");
    assert_eq!(p["lastName"], "Tester", "partial update keeps other fields");
    assert_eq!(p["emailAddresses"].as_array().unwrap().len(), 1);
    assert_eq!(p["emailAddresses"][0]["address"], "home@tester.example");
    assert_ne!(p["updatedAt"].as_str().unwrap(), created_updated);

    // A tag that is not on the record cannot be deleted.
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {"tags": [{"id": 4, "_delete": true}]}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.first_error(), "tag not found to delete");
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {"tags": [{"id": 3, "_delete": true}]}}),
        )
        .await;
    assert_eq!(r.status, 200);
    // Unknown country, missing website address, wrong envelope.
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {"addresses": [{"country": "UK"}]}}),
        )
        .await;
    assert_eq!(r.first_error(), "address.country: unknown country");
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {"websites": [{"service": "URL"}]}}),
        )
        .await;
    assert_eq!(r.first_error(), "website.address: address is required");
    let r = t
        .put(&format!("/parties/{id}"), json!({"person": {}}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["message"], "Validation Failed");
    let r = t
        .put(
            &format!("/parties/{id}"),
            json!({"party": {"organisation": {"id": 121}}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "organisation not found");

    let r = t.delete(&format!("/parties/{id}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(t.get(&format!("/parties/{id}")).await.status, 404);
    let r = t.get("/parties/deleted?since=2026-01-01T00:00:00Z").await;
    assert!(ids(&r.body["parties"]).contains(&id));
}

#[tokio::test]
async fn search_and_since() {
    let t = start().await;
    let r = t.get("/parties/search?q=ZESTIA").await;
    assert!(ids(&r.body["parties"]).contains(&103));
    let r = t.get("/parties/search?q=scott.spacey@").await;
    assert_eq!(ids(&r.body["parties"]), vec![121]);
    let r = t.get("/parties/search?q=7700%20900001").await;
    assert_eq!(ids(&r.body["parties"]), vec![121]);
    let r = t.get("/opportunities/search?q=shopping%20cart").await;
    assert!(!r.body["opportunities"].as_array().unwrap().is_empty());
    let r = t.get("/kases/search?q=research").await;
    assert_eq!(r.body["kases"][0]["name"], "Research");

    let all = t.get("/parties?perPage=100").await.body["parties"]
        .as_array()
        .unwrap()
        .len();
    let r = t
        .get("/parties?perPage=100&since=2026-06-01T00:00:00Z")
        .await;
    let some = r.body["parties"].as_array().unwrap();
    assert!(!some.is_empty() && some.len() < all);
    assert!(
        some.iter()
            .all(|p| p["updatedAt"].as_str().unwrap() > "2026-06-01T00:00:00Z")
    );
    let r = t.get("/parties?since=not-a-date").await;
    assert_eq!(r.status, 422);
    // Changing a record brings it into the feed.
    t.put(
        "/opportunities/300",
        json!({"opportunity": {"description": "x"}}),
    )
    .await;
    let r = t.get("/opportunities?since=2026-11-01T00:00:00Z").await;
    assert!(ids(&r.body["opportunities"]).contains(&300));
}

#[tokio::test]
async fn structured_filters() {
    let t = start().await;
    let filter = |conds: Value| json!({"filter": {"conditions": conds}});
    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "tag", "operator": "is", "value": "VIP"},
                          {"field": "type", "operator": "is", "value": "organisation"}])),
        )
        .await;
    assert_eq!(r.status, 200);
    let orgs = ids(&r.body["parties"]);
    assert!(!orgs.is_empty());
    assert!(orgs.iter().all(|id| (100..120).contains(id)));
    // Tag by id works too.
    let r2 = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "tag", "operator": "is", "value": 3},
                          {"field": "type", "operator": "is", "value": "organisation"}])),
        )
        .await;
    assert_eq!(ids(&r2.body["parties"]), orgs);

    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "name", "operator": "starts with", "value": "prague"}])),
        )
        .await;
    assert_eq!(ids(&r.body["parties"]), vec![110]);
    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"conditions": [
                {"field": "email", "operator": "ends with", "value": "@zestia.example"},
                {"field": "city", "operator": "is", "value": "Prague"}
            ]}])),
        )
        .await;
    let or_ids = ids(&r.body["parties"]);
    assert!(or_ids.contains(&103));
    let r = t
        .post(
            "/parties/filters/results?perPage=5",
            filter(json!([{"field": "addedOn", "operator": "is before", "value": "2026-03-01"}])),
        )
        .await;
    assert_eq!(r.body["parties"].as_array().unwrap().len(), 5);
    assert!(
        r.next_link()
            .unwrap()
            .contains("/parties/filters/results?perPage=5&page=2")
            || r.next_link().unwrap().contains("page=2")
    );
    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "custom:49", "operator": "is greater than", "value": 300}])),
        )
        .await;
    // Employees = (i+1)*17 > 300 → i >= 17 → orgs 117, 118, 119.
    assert_eq!(ids(&r.body["parties"]), vec![117, 118, 119]);
    let r = t
        .post(
            "/opportunities/filters/results",
            filter(
                json!([{"field": "pipeline", "operator": "is", "value": "Enterprise"},
                          {"field": "isOpen", "operator": "is", "value": false}]),
            ),
        )
        .await;
    let closed = r.body["opportunities"].as_array().unwrap();
    assert!(!closed.is_empty());
    assert!(closed.iter().all(|o| !o["closedOn"].is_null()));
    let r = t
        .post(
            "/kases/filters/results",
            filter(json!([{"field": "board", "operator": "is", "value": 8}])),
        )
        .await;
    assert_eq!(ids(&r.body["kases"]), vec![507, 508, 509]);
    let r = t
        .post(
            "/opportunities/filters/results",
            filter(
                json!([{"field": "expectedCloseOn", "operator": "is within next", "value": 3650}]),
            ),
        )
        .await;
    assert_eq!(r.status, 200);

    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "shoeSize", "operator": "is", "value": 1}])),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.first_error(), "invalid field name");
    let r = t
        .post(
            "/parties/filters/results",
            filter(json!([{"field": "custom:9999", "operator": "is", "value": 1}])),
        )
        .await;
    assert_eq!(r.first_error(), "invalid field name");
    // A read-only token may filter (it is a read).
    let r = t
        .send(
            Method::POST,
            "/kases/filters/results",
            Some(READONLY_TOKEN),
            Some(filter(json!([]))),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn deleted_feeds() {
    let t = start().await;
    let r = t.get("/parties/deleted").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.first_error(), "since is required");
    let r = t.get("/parties/deleted?since=2026-01-01T00:00:00Z").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.body["parties"]), vec![95, 96]);
    assert_eq!(r.body["parties"][0]["deletedAt"], "2026-03-01T09:00:00Z");
    assert_eq!(r.body["restrictedParties"][0]["isRestricted"], true);
    let r = t.get("/parties/deleted?since=2026-05-01T00:00:00Z").await;
    assert_eq!(ids(&r.body["parties"]), vec![96]);
    let r = t
        .get("/opportunities/deleted?since=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(r.body["restrictedOpportunities"], json!([]));
    let r = t.get("/kases/deleted?since=2026-01-01T00:00:00Z").await;
    assert_eq!(ids(&r.body["kases"]), vec![490]);
    assert!(r.body["restrictedKases"].is_array());
}

#[tokio::test]
async fn error_statuses() {
    let t = start().await;
    let r = t.send(Method::GET, "/parties", None, None).await;
    assert_eq!(r.status, 401);
    assert!(r.body["message"].is_string());
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let r = t.send(Method::GET, "/parties", Some("nope"), None).await;
    assert_eq!(r.status, 401);

    let r = t
        .send(
            Method::POST,
            "/parties",
            Some(READONLY_TOKEN),
            Some(json!({"party": {"type": "organisation", "name": "X"}})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body["message"].is_string());
    let r = t
        .send(Method::GET, "/parties/120", Some(READONLY_TOKEN), None)
        .await;
    assert_eq!(r.status, 200);

    let def = json!({"definition": {"name": "Shoe size", "type": "number"}});
    let r = t
        .send(
            Method::POST,
            "/parties/fields/definitions",
            Some(USER_TOKEN),
            Some(def.clone()),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = t
        .send(
            Method::POST,
            "/milestones",
            Some(USER_TOKEN),
            Some(json!({"milestone": {"name": "X"}})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = t.post("/parties/fields/definitions", def).await;
    assert_eq!(r.status, 201);

    let r = t.get("/nothing/here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"message": "Could not find resource"}));
    let r = t.get("/users/me").await;
    assert_eq!(r.status, 404);
    let r = t.get("/tasks/123456").await;
    assert_eq!(r.body["message"], "task not found");

    let r = t.get("/tracks").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body, json!({"message": "Method not allowed"}));
    let r = t
        .send(
            Method::PATCH,
            "/parties/120",
            Some(ADMIN_TOKEN),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 405);
    let r = t
        .send(Method::DELETE, "/parties/search", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(r.status, 405);

    let r = t
        .post("/tasks", json!({"task": {"description": "x"}}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.body,
        json!({"message": "Validation Failed", "errors": [
            {"message": "dueOn is required", "resource": "task", "field": "dueOn"}
        ]})
    );
    let r = t
        .raw(Method::POST, "/parties", Some(ADMIN_TOKEN), "{not json")
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"].is_string());
}

#[tokio::test]
async fn rate_limit_and_headers() {
    let t = start().await;
    let r = t.get("/site").await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("4000"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("3999"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > chrono::Utc::now().timestamp());

    let r = t
        .admin("/_sandbox/config", json!({"rate_limit_per_hour": 3}))
        .await;
    assert_eq!(r.status, 200);
    let mut statuses = vec![];
    for _ in 0..4 {
        let r = t.send(Method::GET, "/site", Some(USER_TOKEN), None).await;
        statuses.push(r.status.as_u16());
        if r.status == 429 {
            assert_eq!(r.body, json!({"error": "rate limit reached"}));
            assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
            assert!(r.header("retry-after").is_none());
            assert!(r.header("x-ratelimit-reset").is_some());
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    // Limits are per token.
    let r = t
        .send(Method::GET, "/site", Some(READONLY_TOKEN), None)
        .await;
    assert_eq!(r.status, 200);
    let stats = t.stats().await;
    assert_eq!(stats["requests"]["GET /site"], 6);
}

#[tokio::test]
async fn faults_and_stats_and_reset() {
    let t = start().await;
    let r = t
        .admin(
            "/_sandbox/faults",
            json!({"route": "GET /parties", "status": 429, "times": 2, "reset_in_seconds": 30}),
        )
        .await;
    assert_eq!(r.body, json!({"ok": true}));
    t.admin(
        "/_sandbox/faults",
        json!({"route": "GET /parties", "status": 503}),
    )
    .await;
    for _ in 0..2 {
        let r = t.get("/parties").await;
        assert_eq!(r.status, 429);
        assert_eq!(r.body, json!({"error": "rate limit reached"}));
        assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
        let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!((now + 25..=now + 35).contains(&reset));
    }
    let r = t.get("/parties").await;
    assert_eq!(r.status, 503);
    assert!(r.body["message"].is_string());
    assert_eq!(t.get("/parties").await.status, 200);
    // Other routes are unaffected.
    t.admin(
        "/_sandbox/faults",
        json!({"route": "GET /parties/{id}", "status": 500}),
    )
    .await;
    assert_eq!(t.get("/kases").await.status, 200);
    assert_eq!(t.get("/parties/120,121").await.status, 500);

    // Delay only.
    t.admin(
        "/_sandbox/faults",
        json!({"route": "GET /site", "delay_ms": 400}),
    )
    .await;
    let start = std::time::Instant::now();
    assert_eq!(t.get("/site").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(400));
    let start = std::time::Instant::now();
    t.get("/site").await;
    assert!(start.elapsed() < Duration::from_millis(400));

    t.get("/parties/120/entries").await;
    t.post(
        "/parties/filters/results",
        json!({"filter": {"conditions": []}}),
    )
    .await;
    t.get("/parties/deleted?since=2026-01-01").await;
    let s = t.stats().await;
    assert_eq!(s["requests"]["GET /parties"], 4);
    assert_eq!(s["requests"]["GET /parties/{id}"], 1);
    assert_eq!(s["requests"]["GET /parties/{id}/entries"], 1);
    assert_eq!(s["requests"]["POST /parties/filters/results"], 1);
    assert_eq!(s["requests"]["GET /parties/deleted"], 1);
    assert_eq!(s["total_requests"], 11);

    // Reset: data, counters and faults.
    t.delete("/parties/120").await;
    t.admin(
        "/_sandbox/faults",
        json!({"route": "GET /site", "status": 500, "times": 5}),
    )
    .await;
    t.admin("/_sandbox/config", json!({"rate_limit_per_hour": 1}))
        .await;
    let r = t.admin("/_sandbox/reset", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.stats().await["total_requests"], 0);
    assert_eq!(t.get("/parties/120").await.status, 200);
    assert_eq!(t.get("/site").await.status, 200);
    let r = t.get("/site").await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("4000"));
    assert_eq!(t.stats().await["total_requests"], 3);
}

#[tokio::test]
async fn aborted_requests_are_counted() {
    let t = start().await;
    t.admin(
        "/_sandbox/faults",
        json!({"route": "GET /site", "delay_ms": 3000}),
    )
    .await;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = c
        .get(format!("{}/site", t.sb.api_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await;
    assert!(r.is_err());
    drop(c);
    let mut aborted = 0;
    for _ in 0..50 {
        aborted = t.stats().await["aborted"].as_u64().unwrap();
        if aborted > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(aborted, 1);
}

async fn authorise(t: &T, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("response_type", "code"),
        ("client_id", "my-client"),
        ("redirect_uri", "http://localhost:9999/callback"),
        ("state", "xyz"),
    ]);
    q.extend_pairs(extra);
    let r =
        t.c.get(format!(
            "{}/oauth/authorise?{}",
            t.sb.base_url(),
            q.finish()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with("http://localhost:9999/callback?"));
    let pairs: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "xyz");
    pairs["code"].clone()
}

#[tokio::test]
async fn oauth_code_refresh_rotation_and_expiry() {
    let t = start().await;
    let code = authorise(&t, &[]).await;
    let r = t
        .form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", "my-client"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "client_secret is required");
    let code = authorise(&t, &[]).await;
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "my-client"),
        ("client_secret", "s3cret"),
        ("redirect_uri", "http://localhost:9999/callback"),
    ];
    let r = t.form("/oauth/token", &grant).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["scope"], "read write");
    assert_eq!(r.body["subdomain"], "sandbox");
    assert_eq!(r.body["expires_in"], 604_800);
    let access = r.body["access_token"].as_str().unwrap().to_string();
    let refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    // Codes are single-use.
    let r = t.form("/oauth/token", &grant).await;
    assert_eq!(r.body["error"], "invalid_grant");

    let r = t
        .send(Method::GET, "/users/current", Some(&access), None)
        .await;
    assert_eq!(r.body["user"]["id"], 61);
    let r = t
        .send(
            Method::POST,
            "/parties",
            Some(&access),
            Some(json!({"party": {"type": "organisation", "name": "OAuth Org"}})),
        )
        .await;
    assert_eq!(r.status, 201);

    let refresh_form = |tok: &str| {
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), tok.to_string()),
            ("client_id".to_string(), "my-client".to_string()),
            ("client_secret".to_string(), "s3cret".to_string()),
        ]
    };
    let f = refresh_form(&refresh);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = t.form("/oauth/token", &pairs).await;
    assert_eq!(r.status, 200);
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh2, refresh);
    // The used refresh token is gone.
    let r = t.form("/oauth/token", &pairs).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_grant");

    // Short TTL: the next token expires. Expiry has whole-second resolution, so a 1 s token
    // can be gone a millisecond after it was issued: 3 s leave a loaded machine 2 s to use it.
    t.admin("/_sandbox/config", json!({"access_token_ttl_seconds": 3}))
        .await;
    let f = refresh_form(&refresh2);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = t.form("/oauth/token", &pairs).await;
    assert_eq!(r.body["expires_in"], 3);
    let short = r.body["access_token"].as_str().unwrap().to_string();
    let refresh3 = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        t.send(Method::GET, "/site", Some(&short), None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let r = t.send(Method::GET, "/site", Some(&short), None).await;
    assert_eq!(r.status, 401);

    // Revocation.
    let r = t.form("/oauth/token/revoke", &[("token", &access)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.send(Method::GET, "/site", Some(&access), None)
            .await
            .status,
        401
    );
    let r = t.form("/oauth/revoke", &[("token", &refresh3)]).await;
    assert_eq!(r.status, 200);
    let f = refresh_form(&refresh3);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(t.form("/oauth/token", &pairs).await.status, 400);

    let s = t.stats().await;
    assert_eq!(s["grants"]["authorization_code"], 1);
    assert_eq!(s["grants"]["refresh_token"], 2);
}

#[tokio::test]
async fn oauth_pkce() {
    let t = start().await;
    // S256 of this verifier (openssl dgst -sha256 -binary | base64url).
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r5W3ZR5m7ck0Rs";
    let challenge = "k0ZvaQg6mU2v55Woyr-E1JJRf6mE4P7uOspnlIzTE6g";
    let pkce = [
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let code = authorise(&t, &pkce).await;
    let r = t
        .form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", "c"),
                ("client_secret", "s"),
                ("code_verifier", "wrong"),
            ],
        )
        .await;
    assert_eq!(r.body["error"], "invalid_grant");
    let code = authorise(&t, &pkce).await;
    let r = t
        .form(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", "my-client"),
                ("client_secret", "s"),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn cascade_delete_of_an_organisation() {
    let t = start().await;
    // Org 101 has people, opportunities, kases, tasks and entries.
    let people = ids(&t.get("/parties/101/people").await.body["parties"]);
    assert!(!people.is_empty());
    let opps = ids(&t.get("/parties/101/opportunities").await.body["opportunities"]);
    assert!(!opps.is_empty());
    let kases = ids(&t.get("/parties/101/kases").await.body["kases"]);
    assert!(!kases.is_empty());
    assert!(
        !t.get("/parties/101/entries").await.body["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    assert_eq!(t.delete("/parties/101").await.status, 204);
    for p in &people {
        let r = t.get(&format!("/parties/{p}")).await;
        assert_eq!(r.status, 200);
        assert!(r.body["party"]["organisation"].is_null());
    }
    for o in &opps {
        assert_eq!(t.get(&format!("/opportunities/{o}")).await.status, 404);
    }
    for k in &kases {
        assert_eq!(t.get(&format!("/kases/{k}")).await.status, 404);
    }
    let r = t.get("/entries?perPage=100").await;
    assert!(
        r.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["party"]["id"] != 101
                && !opps.contains(&e["opportunity"]["id"].as_i64().unwrap_or(0)))
    );
    let r = t
        .get("/tasks?status=open,completed,pending&perPage=100")
        .await;
    assert!(
        r.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["party"]["id"] != 101)
    );
    let r = t
        .get("/opportunities/deleted?since=2026-11-01T00:00:00Z")
        .await;
    assert_eq!(ids(&r.body["opportunities"]).len(), opps.len());
}

#[tokio::test]
async fn opportunity_closing_and_moves() {
    let t = start().await;
    let r = t
        .post(
            "/opportunities",
            json!({"opportunity": {"name": "Test deal", "party": {"id": 103}, "milestone": {"id": 1},
                   "value": {"amount": 500, "currency": "GBP"}, "tags": [{"name": "Upsell"}],
                   "fields": [{"definition": {"id": 61}, "value": 12}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let o = &r.body["opportunity"];
    let id = o["id"].as_i64().unwrap();
    assert_eq!(o["probability"], 10);
    assert_eq!(o["owner"]["id"], 61);
    assert_eq!(o["lastOpenMilestone"]["id"], 1);

    let r = t
        .put(
            &format!("/opportunities/{id}"),
            json!({"opportunity": {"milestone": {"id": 2}}}),
        )
        .await;
    assert_eq!(r.body["opportunity"]["probability"], 50);
    let r = t
        .put(
            &format!("/opportunities/{id}"),
            json!({"opportunity": {"milestone": {"id": 4}, "lostReason": {"id": 3}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let o = &r.body["opportunity"];
    assert_eq!(o["probability"], 0);
    assert_eq!(o["lostReason"]["name"], "Too expensive");
    assert_eq!(o["closedOn"], chrono::Utc::now().date_naive().to_string());
    assert_eq!(o["lastOpenMilestone"]["id"], 2);
    assert!(o["lastStageChangedAt"].is_string());
    let r = t
        .put(
            &format!("/opportunities/{id}"),
            json!({"opportunity": {"probability": 40}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        r.first_error(),
        "probability can be updated only for open opportunity"
    );
    let r = t
        .put(
            &format!("/opportunities/{id}"),
            json!({"opportunity": {"milestone": {"id": 3}}}),
        )
        .await;
    assert_eq!(r.body["opportunity"]["probability"], 100);
    assert!(r.body["opportunity"]["lostReason"].is_null());
    // Milestone from another pipeline moves it silently.
    let r = t
        .put(
            &format!("/opportunities/{id}"),
            json!({"opportunity": {"milestone": {"id": 6}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["opportunity"]["closedOn"].is_null());
    assert_eq!(r.body["opportunity"]["lastOpenMilestone"]["id"], 6);
    let r = t
        .post(
            "/opportunities/filters/results",
            json!({"filter": {"conditions": [{"field": "pipeline", "operator": "is", "value": 11}, {"field": "id", "operator": "is", "value": id}]}}),
        )
        .await;
    assert_eq!(ids(&r.body["opportunities"]), vec![id]);

    // Additional parties.
    assert_eq!(
        t.post(&format!("/opportunities/{id}/parties/150"), json!({}))
            .await
            .status,
        204
    );
    let r = t
        .post(&format!("/opportunities/{id}/parties/150"), json!({}))
        .await;
    assert_eq!(
        r.first_error(),
        "party is already a contact for this opportunity"
    );
    let r = t
        .post(&format!("/opportunities/{id}/parties/103"), json!({}))
        .await;
    assert_eq!(
        r.first_error(),
        "party is already related to this opportunity"
    );
    assert_eq!(
        ids(&t.get(&format!("/opportunities/{id}/parties")).await.body["parties"]),
        vec![150]
    );
    assert_eq!(
        t.delete(&format!("/opportunities/{id}/parties/150"))
            .await
            .status,
        204
    );

    // Kase owner/team pair rule.
    let r = t
        .put("/kases/500", json!({"kase": {"team": {"id": 5}}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["kase"]["owner"].is_null());
    assert_eq!(r.body["kase"]["team"]["id"], 5);
    let r = t
        .put(
            "/kases/500",
            json!({"kase": {"owner": {"id": 12}, "team": {"id": 5}}}),
        )
        .await;
    assert_eq!(r.first_error(), "owner is not a member of the team");
    let r = t
        .put("/kases/500", json!({"kase": {"owner": {"id": 6}}}))
        .await;
    assert_eq!(r.body["kase"]["owner"]["id"], 6);
    assert!(r.body["kase"]["team"].is_null());
}

#[tokio::test]
async fn task_completion_and_rules() {
    let t = start().await;
    let r = t
        .post("/tasks", json!({"task": {"description": "Call back", "dueOn": "2026-12-20", "dueTime": "14:30", "category": {"name": "billing"}, "party": {"id": 121}}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["task"]["id"].as_i64().unwrap();
    assert_eq!(r.body["task"]["category"]["id"], 47);
    assert_eq!(r.body["task"]["dueTime"], "14:30:00");
    assert_eq!(r.body["task"]["status"], "OPEN");

    let r = t
        .put(
            &format!("/tasks/{id}"),
            json!({"task": {"status": "PENDING"}}),
        )
        .await;
    assert_eq!(r.first_error(), "cannot set task status to PENDING");
    let r = t
        .put(
            &format!("/tasks/{id}"),
            json!({"task": {"opportunity": {"id": 300}}}),
        )
        .await;
    assert_eq!(r.first_error(), "task can be related to at most one entity");
    let r = t
        .post("/tasks", json!({"task": {"dueOn": "2026-12-20"}}))
        .await;
    assert_eq!(r.first_error(), "description is required");

    let r = t
        .send(
            Method::PUT,
            &format!("/tasks/{id}"),
            Some(USER_TOKEN),
            Some(json!({"task": {"status": "COMPLETED"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["task"]["status"], "COMPLETED");
    assert!(r.body["task"]["completedAt"].is_string());
    assert_eq!(r.body["task"]["completedBy"], "scottspacey");
    let r = t.get("/parties/121/entries").await;
    let first = &r.body["entries"][0];
    assert_eq!(first["type"], "task");
    assert_eq!(first["activityType"]["id"], -4);
    assert_eq!(first["content"], "Call back");

    // Status filter on the list.
    let open = t.get("/tasks?perPage=100").await.body["tasks"].clone();
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "OPEN")
    );
    assert!(!ids(&open).contains(&id));
    let done = t.get("/tasks?status=completed&perPage=100").await.body["tasks"].clone();
    assert!(ids(&done).contains(&id));
    let all = t
        .get("/tasks?status=open,completed,pending&perPage=100")
        .await
        .body["tasks"]
        .clone();
    assert_eq!(all.as_array().unwrap().len(), 41);

    // Given completedAt is kept; reopen clears it.
    let r = t
        .put(
            "/tasks/700",
            json!({"task": {"status": "COMPLETED", "completedAt": "2026-02-02T10:00:00Z"}}),
        )
        .await;
    assert_eq!(r.body["task"]["completedAt"], "2026-02-02T10:00:00Z");
    let r = t
        .put("/tasks/700", json!({"task": {"status": "OPEN"}}))
        .await;
    assert!(r.body["task"]["completedAt"].is_null());

    // Entries: note only, exactly one link, default activity type.
    let r = t
        .post(
            "/entries",
            json!({"entry": {"type": "note", "content": "hi"}}),
        )
        .await;
    assert_eq!(
        r.first_error(),
        "entry must be linked to either a party, opportunity or kase"
    );
    let r = t
        .post("/entries", json!({"entry": {"type": "note", "content": "hi", "party": {"id": 120}, "kase": {"id": 500}}}))
        .await;
    assert_eq!(r.status, 422);
    let r = t
        .post(
            "/entries",
            json!({"entry": {"type": "email", "content": "hi", "party": {"id": 120}}}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = t
        .post(
            "/entries",
            json!({"entry": {"type": "note", "content": "hi", "kase": {"id": 500}}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["entry"]["activityType"],
        json!({"id": -1, "name": "Note"})
    );
}

#[tokio::test]
async fn custom_field_values() {
    let t = start().await;
    let r = t
        .put(
            "/parties/100?embed=fields",
            json!({"party": {"fields": [{"definition": {"id": 49}, "value": 42}]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = r.body["party"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["definition"]["id"] == 49)
        .unwrap()
        .clone();
    assert_eq!(f["value"], "42", "numbers read back as strings");
    assert_eq!(f["definition"]["name"], "Employees");
    let r = t
        .put(
            "/parties/100",
            json!({"party": {"fields": [{"definition": {"id": 48}, "value": null}]}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.first_error(), "field.value: invalid type for field");
    let r = t
        .put(
            "/parties/100?embed=fields",
            json!({"party": {"fields": [{"definition": {"id": 49}, "value": null}]}}),
        )
        .await;
    assert!(
        r.body["party"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["definition"]["id"] != 49)
    );
    let r = t
        .put(
            "/parties/100",
            json!({"party": {"fields": [{"definition": {"id": 47}, "value": "Not an option"}]}}),
        )
        .await;
    // Capsule stores a list value outside the options (capsule-api.md §8.1).
    assert_eq!(r.status, 200);
    // Removing a value row by id.
    let r = t.get("/parties/100?embed=fields").await;
    let row = r.body["party"]["fields"][0]["id"].as_i64().unwrap();
    let r = t
        .put(
            "/parties/100?embed=fields",
            json!({"party": {"fields": [{"id": row, "_delete": true}]}}),
        )
        .await;
    assert!(
        r.body["party"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != row)
    );
    // Definitions of every type can be created by an admin.
    for (ty, extra) in [
        ("text", json!({})),
        ("large_text", json!({})),
        ("number", json!({})),
        ("date", json!({})),
        ("boolean", json!({})),
        ("list", json!({"options": ["A", "B"]})),
        ("link", json!({"captureRule": "person"})),
    ] {
        let mut d = json!({"name": format!("New {ty}"), "type": ty});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = t
            .post("/parties/fields/definitions", json!({"definition": d}))
            .await;
        assert_eq!(r.status, 201, "{ty}: {}", r.body);
    }
    let r = t
        .post(
            "/kases/fields/definitions",
            json!({"definition": {"name": "X", "type": "text", "captureRule": "person"}}),
        )
        .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn never_a_500() {
    let t = start().await;
    let garbage_bodies = [
        "{not json",
        "[]",
        "null",
        "42",
        "\"x\"",
        "{}",
        r#"{"party": 5}"#,
        r#"{"party": {"type": 5}}"#,
        r#"{"party": {"type": "person", "firstName": ["x"], "emailAddresses": "x"}}"#,
        r#"{"party": {"type": "person", "lastName": "x", "emailAddresses": [5, null], "tags": [{}], "fields": [{"definition": "x"}]}}"#,
        r#"{"opportunity": {"name": "x", "party": {"id": -1}, "milestone": {"id": "abc"}, "value": "lots"}}"#,
        r#"{"kase": {"name": 1, "party": {"id": 1e99}}}"#,
        r#"{"task": {"description": "x", "dueOn": "2026-13-45", "dueTime": "99:99", "repeat": 5}}"#,
        r#"{"entry": {"type": "note", "party": {"id": 120}, "entryAt": "yesterday", "activityType": {"id": 999}}}"#,
        r#"{"filter": {"conditions": [{"field": "id", "operator": "is within next", "value": -5}, {"conditions": 7}]}}"#,
        r#"{"filter": {"conditions": [{"field": "addedOn", "operator": "is older than", "value": 18446744073709551615}]}}"#,
        r#"{"definition": {"name": "x", "type": "list", "options": [1, 2]}}"#,
        r#"{"milestone": {"name": "x", "probability": 1000, "pipeline": {"id": -3}}}"#,
    ];
    let paths = [
        "/parties",
        "/parties/120",
        "/parties/-5",
        "/parties/abc",
        "/parties/1,,2",
        "/parties/99999999999999999999",
        "/opportunities",
        "/opportunities/300",
        "/kases",
        "/kases/500",
        "/tasks",
        "/tasks/700",
        "/entries",
        "/entries/900",
        "/parties/filters/results",
        "/opportunities/filters/results",
        "/kases/filters/results",
        "/parties/fields/definitions",
        "/parties/fields/definitions/45",
        "/parties/tags",
        "/parties/tags/1",
        "/milestones",
        "/milestones/1",
        "/pipelines",
        "/pipelines/10",
        "/stages",
        "/boards/7",
        "/categories",
        "/lostreasons/3",
        "/activitytypes/-1",
        "/titles",
        "/opportunities/300/parties/120",
        "/kases/500/parties/abc",
        "/attachments/upload",
        "/users/61",
    ];
    let mut checked = 0;
    for path in paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            for body in garbage_bodies {
                let r = t.raw(method.clone(), path, Some(ADMIN_TOKEN), body).await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} {body} → {} {}",
                    r.status,
                    r.body
                );
                checked += 1;
            }
            if method == Method::DELETE {
                // Deletes succeed once; reset so later paths still have data.
                t.admin("/_sandbox/reset", json!({})).await;
            }
        }
    }
    let queries = [
        "/parties?perPage=100000000000000000000",
        "/parties?perPage=-1&page=-3",
        "/parties?page=18446744073709551615&perPage=100",
        "/parties?embed=bogus,,tags,%00",
        "/parties?since=garbage",
        "/parties?since=",
        "/tasks?status=closed",
        "/tasks?status=,,",
        "/tasks?owner=x&dueFrom=y",
        "/parties/search",
        "/parties/search?q=%F0%9F%92%A9",
        "/parties/deleted?since=1999",
        "/entries?since=2026-01-01T00:00:00+25:00",
        "/parties/120/entries?perPage=0",
        "/kases?status=ALL",
        "/boards?q=zzz",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/parties/%FF%FE",
    ];
    for q in queries {
        let r = t.get(q).await;
        assert!(r.status.as_u16() < 500, "{q} → {}", r.status);
    }
    assert!(checked > 1000);
    // Unknown paths outside /api/v2 are JSON 404s too.
    let r =
        t.c.get(format!("{}/whatever", t.sb.base_url()))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    // Admin API garbage.
    for body in [
        "{",
        "[]",
        r#"{"route": 5}"#,
        r#"{"route": "GET /x", "status": 200}"#,
        r#"{"route": "GET /x"}"#,
    ] {
        let r = t.raw(Method::POST, "/_sandbox/faults", None, body).await;
        assert!(r.status.is_client_error(), "{body}");
    }
    let r = t
        .raw(
            Method::POST,
            "/_sandbox/config",
            None,
            r#"{"rate_limit_per_hour": -1}"#,
        )
        .await;
    assert!(r.status.is_client_error());
    // OAuth garbage.
    let r = t.form("/oauth/token", &[("grant_type", "password")]).await;
    assert_eq!(r.status, 400);
    let r =
        t.c.get(format!(
            "{}/oauth/authorise?response_type=code&client_id=x&redirect_uri=not%20a%20url",
            t.sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn attachments_upload_and_download() {
    let t = start().await;
    let r =
        t.c.post(format!("{}/attachments/upload", t.sb.api_url()))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/plain")
            .header("x-attachment-filename", "notes%20v1.txt")
            .body("hello world")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let token = v["upload"]["token"].as_str().unwrap().to_string();
    let r = t
        .post("/entries", json!({"entry": {"type": "note", "content": "see file", "party": {"id": 120}, "attachments": [{"token": token}]}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = &r.body["entry"]["attachments"][0];
    assert_eq!(a["filename"], "notes v1.txt");
    assert_eq!(a["size"], 11);
    let r =
        t.c.get(format!("{}/attachments/{}", t.sb.api_url(), a["id"]))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "hello world");
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let t = start().await;
    let url = t.sb.api_url();
    assert_eq!(t.get("/site").await.status, 200);
    t.sb.shutdown().await;
    let c = reqwest::Client::new();
    assert!(
        c.get(format!("{url}/site"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .is_err()
    );

    let sb = Sandbox::start("127.0.0.1:0".parse().unwrap(), SandboxOptions::default())
        .await
        .unwrap();
    let url = sb.api_url();
    drop(sb);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = reqwest::Client::new();
    assert!(
        c.get(format!("{url}/site"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .is_err()
    );
}
