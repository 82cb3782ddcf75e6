//! Team-server people against a real sandbox Capsule on loopback. Two [`People`] on one store
//! are two replicas sharing that store (the memory engine here; any engine behaves the same),
//! so cross-replica behaviour is proven in one process. Counts come from the sandbox's stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::Arc, time::Duration};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{
    people::People,
    person::{CapsuleGrant, Person, load_grant, save_grant},
    seal::Sealer,
    store::{MemoryStore, StateStore},
};
use crate::{
    app::App,
    capsule::{client::ClientOptions, oauth::OAuthApp},
    sandbox::{ADMIN_TOKEN, Sandbox, SandboxOptions, USER_TOKEN},
    server::{Registry, Selection},
    tools::{CallCx, ToolError},
};

const CLIENT_ID: &str = "capsule-mcp-team-tests";

fn encode(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

struct World {
    sb: Sandbox,
    store: Arc<dyn StateStore>,
    sealer: Arc<Sealer>,
    registry: Arc<Registry>,
}

async fn world() -> World {
    let sb = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxOptions::default())
        .await
        .unwrap();
    let key = SecretString::from(base64::engine::general_purpose::STANDARD.encode([5u8; 32]));
    World {
        sb,
        store: Arc::new(MemoryStore::new()),
        sealer: Arc::new(Sealer::from_base64(&key).unwrap()),
        registry: Arc::new(Registry::build(&Selection::default()).unwrap()),
    }
}

impl World {
    /// One replica of the team server: its own `People` over the shared store.
    fn replica(&self, call_budget: Duration) -> Arc<People> {
        let capsule = OAuthApp::for_api_url(
            &self.sb.api_url(),
            CLIENT_ID.into(),
            SecretString::from("team-tests-secret"),
        )
        .unwrap();
        People::new(
            self.store.clone(),
            self.sealer.clone(),
            capsule,
            ClientOptions {
                api_url: self.sb.api_url(),
                call_budget,
                ..Default::default()
            },
            Duration::from_secs(600),
            false,
        )
        .unwrap()
    }

    async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_sandbox/stats", self.sb.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn refresh_grants(&self) -> (u64, u64) {
        let s = self.stats().await;
        (
            s["grants"]["refresh_token"].as_u64().unwrap_or(0),
            s["token_requests"]["refresh_token"].as_u64().unwrap_or(0),
        )
    }

    async fn requests(&self, route: &str) -> u64 {
        self.stats().await["requests"][route].as_u64().unwrap_or(0)
    }

    async fn fault(&self, fault: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/_sandbox/faults", self.sb.base_url()))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    async fn token_endpoint(&self, form: &[(&str, &str)]) -> Value {
        let resp = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.sb.base_url()))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(encode(form))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        resp.json().await.unwrap()
    }

    /// A Capsule grant minted through the sandbox's OAuth endpoints, as a browser and the
    /// server's callback would (the sandbox approves at once).
    async fn mint_grant(&self) -> CapsuleGrant {
        let redirect = "http://127.0.0.1:9/callback";
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let approve = browser
            .get(format!(
                "{}/oauth/authorise?{}",
                self.sb.base_url(),
                encode(&[
                    ("response_type", "code"),
                    ("client_id", CLIENT_ID),
                    ("redirect_uri", redirect),
                    ("state", "s"),
                ])
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(approve.status(), 302);
        let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let t = self
            .token_endpoint(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", CLIENT_ID),
                ("client_secret", "team-tests-secret"),
                ("redirect_uri", redirect),
            ])
            .await;
        CapsuleGrant {
            access_token: SecretString::from(t["access_token"].as_str().unwrap().to_owned()),
            refresh_token: Some(SecretString::from(
                t["refresh_token"].as_str().unwrap().to_owned(),
            )),
            expires_at: Some(chrono::Utc::now().timestamp() + t["expires_in"].as_i64().unwrap()),
            scope: t["scope"].as_str().map(str::to_owned),
            obtained_at: None,
        }
    }

    async fn link(&self, person: &Person, grant: &CapsuleGrant) {
        save_grant(&*self.store, &self.sealer, &person.id, grant)
            .await
            .unwrap();
    }

    async fn stored(&self, person: &Person) -> CapsuleGrant {
        load_grant(&*self.store, &self.sealer, &person.id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn call(&self, app: Arc<App>, tool: &str, args: Value) -> Result<Value, ToolError> {
        self.registry
            .get(tool)
            .unwrap()
            .call(app, args.as_object().cloned(), CallCx::default())
            .await
    }

    /// `crm_get_user {"id": "me"}` for `person` through `people`: the Capsule user id it ran as.
    async fn me(&self, people: &Arc<People>, person: &Person) -> Result<i64, ToolError> {
        let app = people.app_for(person).unwrap();
        let user = self.call(app, "crm_get_user", json!({"id": "me"})).await?;
        Ok(user_id(&user))
    }
}

fn user_id(user: &Value) -> i64 {
    let id = &user["id"];
    id.as_i64()
        .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("a user id in {user}"))
}

fn admin_person() -> Person {
    Person {
        id: "61@sandbox".into(),
        capsule_user_id: 61,
    }
}

fn standard_person() -> Person {
    Person {
        id: "6@sandbox".into(),
        capsule_user_id: 6,
    }
}

/// A grant for one of the sandbox's demo tokens, which never expire.
fn static_grant(token: &str) -> CapsuleGrant {
    CapsuleGrant {
        access_token: SecretString::from(token.to_owned()),
        refresh_token: None,
        expires_at: None,
        scope: None,
        obtained_at: None,
    }
}

fn expired(mut grant: CapsuleGrant) -> CapsuleGrant {
    grant.expires_at = Some(chrono::Utc::now().timestamp() - 1);
    grant
}

/// `n` calls of `crm_get_user me` for `person`, alternating between the replicas, all at once.
async fn at_once(
    w: &Arc<World>,
    replicas: &[Arc<People>],
    person: &Person,
    n: usize,
) -> Vec<Result<i64, ToolError>> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (w, people, person) = (
                w.clone(),
                replicas[i % replicas.len()].clone(),
                person.clone(),
            );
            tokio::spawn(async move { w.me(&people, &person).await })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_calls_across_two_replicas_over_an_expiry_refresh_once() {
    let w = Arc::new(world().await);
    let person = admin_person();
    let minted = w.mint_grant().await;
    w.link(&person, &expired(minted.clone())).await;
    let replicas = [
        w.replica(Duration::from_secs(30)),
        w.replica(Duration::from_secs(30)),
    ];
    assert_eq!(w.refresh_grants().await, (0, 0));

    let results = at_once(&w, &replicas, &person, 50).await;
    for r in &results {
        assert_eq!(r.as_ref().ok(), Some(&61), "{r:?}");
    }
    assert_eq!(
        w.refresh_grants().await,
        (1, 1),
        "one refresh grant asked for and issued across both replicas"
    );
    let stored = w.stored(&person).await;
    assert_ne!(
        stored.access_token.expose_secret(),
        minted.access_token.expose_secret()
    );
    assert_ne!(
        stored.refresh_token.unwrap().expose_secret(),
        minted.refresh_token.unwrap().expose_secret(),
        "the rotated refresh token is the one stored"
    );
    // The new token is fresh: more calls on either replica refresh nothing.
    assert_eq!(w.me(&replicas[1], &person).await.ok(), Some(61));
    assert_eq!(w.refresh_grants().await, (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_refresh_gives_every_waiting_call_the_same_relink_error_once() {
    let w = Arc::new(world().await);
    let person = admin_person();
    let minted = w.mint_grant().await;
    // Someone else used the refresh token (rotation makes it worthless): Capsule refuses it.
    w.token_endpoint(&[
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            minted.refresh_token.as_ref().unwrap().expose_secret(),
        ),
        ("client_id", CLIENT_ID),
        ("client_secret", "team-tests-secret"),
    ])
    .await;
    w.link(&person, &expired(minted)).await;
    let replicas = [
        w.replica(Duration::from_secs(30)),
        w.replica(Duration::from_secs(30)),
    ];
    assert_eq!(w.refresh_grants().await, (1, 1));

    let results = at_once(&w, &replicas, &person, 50).await;
    let errors: Vec<Value> = results
        .into_iter()
        .map(|r| r.expect_err("no call can succeed").to_value())
        .collect();
    let message = errors[0]["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("connect again to link your Capsule account"),
        "{message}"
    );
    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
    assert_eq!(
        w.refresh_grants().await,
        (1, 2),
        "the refused refresh token was sent once, by one replica, for all 50 calls"
    );
    // Later calls, on either replica or on a fresh one, do not send it again.
    let fresh = w.replica(Duration::from_secs(30));
    for people in [&replicas[0], &replicas[1], &fresh] {
        let e = w.me(people, &person).await.unwrap_err().to_value();
        assert_eq!(e, errors[0]);
    }
    assert_eq!(w.refresh_grants().await, (1, 2));
    // A new link (a new refresh token) works at once.
    w.link(&person, &expired(w.mint_grant().await)).await;
    assert_eq!(w.me(&replicas[0], &person).await.ok(), Some(61));
    assert_eq!(w.refresh_grants().await, (2, 3));
}

#[tokio::test]
async fn a_token_another_replica_rotated_is_picked_up_on_a_401() {
    let w = Arc::new(world().await);
    let person = admin_person();
    let minted = w.mint_grant().await;
    w.link(&person, &minted).await;
    let a = w.replica(Duration::from_secs(30));
    assert_eq!(w.me(&a, &person).await.ok(), Some(61));
    // Another replica refreshed, and the old access token was then revoked at Capsule.
    let t = w
        .token_endpoint(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                minted.refresh_token.as_ref().unwrap().expose_secret(),
            ),
            ("client_id", CLIENT_ID),
            ("client_secret", "team-tests-secret"),
        ])
        .await;
    let mut rotated = minted.clone();
    rotated.access_token = SecretString::from(t["access_token"].as_str().unwrap().to_owned());
    rotated.refresh_token = Some(SecretString::from(
        t["refresh_token"].as_str().unwrap().to_owned(),
    ));
    w.link(&person, &rotated).await;
    let revoke = reqwest::Client::new()
        .post(format!("{}/oauth/token/revoke", w.sb.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(encode(&[("token", minted.access_token.expose_secret())]))
        .send()
        .await
        .unwrap();
    assert!(revoke.status().is_success());
    // Replica A still has the old token cached: Capsule's 401 makes it read the store again,
    // where the rotated token is, and it refreshes nothing itself.
    assert_eq!(w.me(&a, &person).await.ok(), Some(61));
    assert_eq!(w.refresh_grants().await, (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_seen_by_one_replica_holds_the_others_back_for_that_user_only() {
    let w = Arc::new(world().await);
    let (ted, scott) = (admin_person(), standard_person());
    w.link(&ted, &static_grant(ADMIN_TOKEN)).await;
    w.link(&scott, &static_grant(USER_TOKEN)).await;
    let short = Duration::from_secs(1);
    let (a, b, c) = (
        w.replica(short),
        w.replica(short),
        w.replica(Duration::from_secs(30)),
    );
    let route = "GET /users/current";
    w.fault(json!({"route": route, "status": 429, "times": 1, "reset_in_seconds": 3}))
        .await;
    let started = std::time::Instant::now();

    // Replica A meets the 429; the reset is beyond its budget, so it says when to come back.
    let e = w.me(&a, &ted).await.unwrap_err();
    assert_eq!(e.code(), "rate_limited", "{e}");
    assert_eq!(w.requests(route).await, 1);

    // Replica B has never talked to Capsule for ted, yet it is held back: refused within its
    // budget, with the reset, and nothing sent.
    let e = w.me(&b, &ted).await.unwrap_err().to_value();
    assert_eq!(e["error"]["code"], "rate_limited", "{e}");
    let retry = e["error"]["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=4).contains(&retry), "retry_after_seconds {retry}");
    assert_eq!(w.requests(route).await, 1, "B sent nothing inside the hold");

    // Replica C can wait out the hold: it sends only after the reset.
    let waiting = tokio::spawn({
        let (w, c, ted) = (w.clone(), c.clone(), ted.clone());
        async move { w.me(&c, &ted).await }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.requests(route).await, 1, "C sent nothing inside the hold");

    // Another person is not held, on any replica.
    assert_eq!(w.me(&b, &scott).await.ok(), Some(6));
    assert_eq!(w.requests(route).await, 2);

    assert_eq!(waiting.await.unwrap().ok(), Some(61));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "C waited for the reset ({:?})",
        started.elapsed()
    );
    assert_eq!(w.requests(route).await, 3, "one request after the reset");
}

#[tokio::test]
async fn two_people_on_one_server_get_their_own_app_tokens_and_completions() {
    use rmcp::model::{ArgumentInfo, CompleteRequestParams, Reference};

    let w = Arc::new(world().await);
    let (ted, scott) = (admin_person(), standard_person());
    w.link(&ted, &static_grant(ADMIN_TOKEN)).await;
    w.link(&scott, &static_grant(USER_TOKEN)).await;
    let people = w.replica(Duration::from_secs(30));
    let (teds, scotts) = (
        people.app_for(&ted).unwrap(),
        people.app_for(&scott).unwrap(),
    );
    assert!(!Arc::ptr_eq(&teds, &scotts));
    assert!(Arc::ptr_eq(&teds, &people.app_for(&ted).unwrap()));
    assert_eq!(w.me(&people, &ted).await.ok(), Some(61));
    assert_eq!(w.me(&people, &scott).await.ok(), Some(6));

    let list = w
        .call(teds.clone(), "crm_list_contacts", json!({"limit": 1}))
        .await
        .unwrap();
    let name = crate::unified::title_of(&list["result"][0]).unwrap();
    let prefix: String = name.chars().take(3).collect();
    let req = CompleteRequestParams::new(
        Reference::for_prompt("log_call"),
        ArgumentInfo::new("contact", prefix.clone()),
    );
    let total = || async { w.stats().await["total_requests"].as_u64().unwrap() };
    let complete = |app: Arc<App>| {
        let (w, req) = (w.clone(), req.clone());
        async move {
            crate::completions::complete(app.clone(), &w.registry, &app.completions, &req)
                .await
                .unwrap()
                .values
        }
    };
    let before = total().await;
    let for_ted = complete(teds.clone()).await;
    assert!(
        for_ted.iter().any(|v| v.starts_with(&name)),
        "{prefix}: {for_ted:?}"
    );
    let searched = total().await;
    assert!(searched > before, "ted's completion searched Capsule");
    assert_eq!(complete(teds.clone()).await, for_ted);
    assert_eq!(total().await, searched, "and is cached for ted");
    // Scott is not answered from ted's cache: his own search, with his own token.
    let for_scott = complete(scotts.clone()).await;
    assert!(
        total().await > searched,
        "scott's completion searched Capsule as scott"
    );
    assert_eq!(
        for_scott, for_ted,
        "the sandbox shows both the same contacts"
    );
}

#[tokio::test]
async fn the_least_recently_used_app_is_evicted_and_made_again_on_its_next_call() {
    let w = Arc::new(world().await);
    let (ted, scott) = (admin_person(), standard_person());
    let ted_elsewhere = Person {
        id: "61@elsewhere".into(),
        capsule_user_id: 61,
    };
    for (p, token) in [
        (&ted, ADMIN_TOKEN),
        (&scott, USER_TOKEN),
        (&ted_elsewhere, ADMIN_TOKEN),
    ] {
        w.link(p, &static_grant(token)).await;
    }
    let people = w.replica(Duration::from_secs(30));
    assert_eq!(people.max_apps(), super::people::DEFAULT_MAX_APPS);
    people.set_max_apps(2);
    let teds = people.app_for(&ted).unwrap();
    let scotts = people.app_for(&scott).unwrap();
    // Ted was used last: scott is the one to go.
    assert!(Arc::ptr_eq(&teds, &people.app_for(&ted).unwrap()));
    people.app_for(&ted_elsewhere).unwrap();
    assert_eq!(people.apps_kept(), 2);
    assert!(
        Arc::ptr_eq(&teds, &people.app_for(&ted).unwrap()),
        "ted kept"
    );
    let scotts_again = people.app_for(&scott).unwrap();
    assert!(
        !Arc::ptr_eq(&scotts, &scotts_again),
        "scott's app made anew"
    );
    assert_eq!(people.apps_kept(), 2);
    assert_eq!(w.me(&people, &scott).await.ok(), Some(6));
    // An app evicted while a call holds it still finishes that call.
    let user = w
        .call(scotts, "crm_get_user", json!({"id": "me"}))
        .await
        .unwrap();
    assert_eq!(user_id(&user), 6);
}
