//! The team server and client ID metadata documents: the official Python SDK names itself by
//! the URL of its document (`client_metadata_url`) instead of registering, the server fetches
//! the document from an https host on loopback (`tests/clients/cimd_host.py`, its throwaway CA
//! handed to the server as `SSL_CERT_FILE`), and a person signs in and calls a tool. Documents
//! that do not describe the client are refused without a redirect; loopback documents are
//! refused unless allowed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{
    common::*,
    real_clients,
    team::{Team, client_with, free_port, post_form, sign_in, signed_in, team, venv_python},
};

/// The redirect URI `py_oauth.py` uses.
const REDIRECT: &str = "http://127.0.0.1:47123/callback";
const ALLOW: (&str, &str) = ("CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS", "1");

/// `cimd_host.py`, serving documents over https on loopback.
struct DocHost {
    /// `https://127.0.0.1:PORT`
    base: String,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl DocHost {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// How often each path was fetched.
    async fn hits(&self) -> Value {
        let pem = std::fs::read(self.dir.path().join("ca.pem")).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .build()
            .unwrap()
            .get(self.url("/_hits"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A document answer.
fn served(body: &Value, headers: &[(&str, &str)]) -> Value {
    let mut h = serde_json::Map::new();
    h.insert("Content-Type".into(), json!("application/json"));
    for (k, v) in headers {
        h.insert((*k).into(), json!(v));
    }
    json!({"status": 200, "headers": h, "body": body.to_string()})
}

/// A good document for `url`, with `extra` fields replacing its own.
fn document(url: &str, extra: Value) -> Value {
    let mut d = json!({
        "client_id": url,
        "client_name": "py-oauth-test",
        "client_uri": "https://example.com",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    for (k, v) in extra.as_object().unwrap() {
        d[k] = v.clone();
    }
    d
}

/// Starts the host; `documents` gets its base URL and answers path → answer.
async fn doc_host(documents: impl FnOnce(&str) -> Value) -> DocHost {
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("documents.json");
    std::fs::write(&file, documents(&base).to_string()).unwrap();
    let python = venv_python();
    let mut child = tokio::process::Command::new(&python)
        .current_dir(real_clients::clients_dir())
        .arg("cimd_host.py")
        .args(["--port", &port.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .arg("--documents")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; run tests/clients/setup",
                python.display()
            )
        });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("cimd_host.py announces itself")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        ready,
        format!("CIMD-HOST READY {base}"),
        "cimd_host.py did not start (is `cryptography` in the venv? run tests/clients/setup)"
    );
    DocHost {
        base,
        dir,
        _child: child,
    }
}

/// `GET /authorize` for `client_id` with PKCE, not following redirects.
async fn authorize(t: &Team, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", "s1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/authorize?{q}", t.public))
        .send()
        .await
        .unwrap()
}

/// An /authorize answer that is an error page, not a redirect: its text.
async fn error_page(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none(), "{:?}", r.headers());
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_person_signs_in_with_a_metadata_document_client_id_and_calls_a_tool() {
    let host = doc_host(|base| {
        let url = format!("{base}/py/client.json");
        json!({"/py/client.json": served(&document(&url, json!({})), &[("Cache-Control", "max-age=60")])})
    })
    .await;
    let client_id = host.url("/py/client.json");
    let t = team(&[ALLOW, ("SSL_CERT_FILE", &host.ca())]).await;
    let asm: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        t.public
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(asm["client_id_metadata_document_supported"], true);

    let r = sign_in(&t, "61", &["--client-metadata-url", &client_id]).await;
    let r = signed_in(&r);
    assert_eq!(r["me"]["id"], "61", "{r:#}");
    assert_eq!(r["me"]["name"], "Ted Danson");
    // The SDK used the URL as its client_id and never registered.
    assert_eq!(r["tokens"]["client_id"], client_id.as_str());
    assert!(r["tokens"]["client_secret"].is_null());
    assert!(!t.logs.lock().unwrap().contains("registered an MCP client"));
    // The consent page named the client and, prominently, the host its document came from.
    let consent = &r["steps"][0];
    assert_eq!(consent["what"], "consent");
    assert_eq!(consent["client_named"], true);
    let host_port = client_id
        .strip_prefix("https://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(
        consent["body"]
            .as_str()
            .unwrap()
            .contains(&format!(r#"<b class="client-host">{host_port}</b>"#)),
        "{}",
        consent["body"]
    );
    // /authorize fetched the document; /token found it kept (max-age=60).
    assert_eq!(host.hits().await["/py/client.json"], 1);

    // The tokens act as Ted, and refresh for the same (public) client.
    let as_ted = client_with(&t, r["tokens"]["access_token"].as_str().unwrap()).await;
    assert_eq!(
        ok(&as_ted, "crm_get_user", json!({"id": "me"})).await["id"],
        "61"
    );
    as_ted.cancel().await.unwrap();
    let (status, fresh) = post_form(
        &t,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                r["tokens"]["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(host.hits().await["/py/client.json"], 1);
}

#[tokio::test]
async fn documents_that_do_not_describe_the_client_are_refused_without_a_redirect() {
    let host = doc_host(|base| {
        let u = |p: &str| format!("{base}{p}");
        json!({
            "/other/client.json": served(&document(&u("/elsewhere/client.json"), json!({})), &[]),
            "/narrow/client.json": served(
                &document(&u("/narrow/client.json"), json!({"redirect_uris": ["http://127.0.0.1:47123/other"]})),
                &[],
            ),
            "/secret/client.json": served(
                &document(&u("/secret/client.json"), json!({"token_endpoint_auth_method": "client_secret_basic"})),
                &[],
            ),
            "/page/client.json": {"status": 200, "headers": {"Content-Type": "text/html"},
                                  "body": document(&u("/page/client.json"), json!({})).to_string()},
            "/moved/client.json": {"status": 302, "headers": {"Location": u("/other/client.json")},
                                   "body": ""},
        })
    })
    .await;
    let t = team(&[ALLOW, ("SSL_CERT_FILE", &host.ca())]).await;
    for (path, says) in [
        ("/other/client.json", "differs from the URL"),
        ("/secret/client.json", "only public clients"),
        ("/page/client.json", "must be application/json"),
        ("/moved/client.json", "redirects are not followed"),
        ("/missing/client.json", "404"),
    ] {
        let text = error_page(authorize(&t, &host.url(path), REDIRECT).await).await;
        assert!(text.contains(says), "{path}: {text}");
        // At /token the same client is invalid_client.
        let (status, body) = post_form(
            &t,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "whatever"),
                ("client_id", &host.url(path)),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{path}: {body}"
        );
    }
    // A document that lists other redirect URIs: the one asked for is refused.
    let text = error_page(authorize(&t, &host.url("/narrow/client.json"), REDIRECT).await).await;
    assert!(
        text.contains("not one this MCP client registered"),
        "{text}"
    );
    assert_eq!(
        authorize(
            &t,
            &host.url("/narrow/client.json"),
            "http://127.0.0.1:47123/other"
        )
        .await
        .status(),
        200
    );
    // The SDK with a document that names another client gets no further than the page.
    let r = sign_in(
        &t,
        "61",
        &["--client-metadata-url", &host.url("/other/client.json")],
    )
    .await;
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("consent page answered 400"), "{r:#}");
    assert!(r["tokens"]["access_token"].is_null());
    assert_eq!(grants(&stats(&t.sb).await), 0);
}

fn grants(stats: &Value) -> u64 {
    stats["grants"]["authorization_code"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn loopback_documents_are_not_fetched_unless_allowed() {
    let host = doc_host(|base| {
        let url = format!("{base}/py/client.json");
        json!({"/py/client.json": served(&document(&url, json!({})), &[])})
    })
    .await;
    let client_id = host.url("/py/client.json");
    let t = team(&[("SSL_CERT_FILE", &host.ca())]).await;
    let text = error_page(authorize(&t, &client_id, REDIRECT).await).await;
    assert!(text.contains("loopback address"), "{text}");
    assert!(
        text.contains("CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS"),
        "{text}"
    );
    let (status, body) = post_form(
        &t,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Nothing was fetched.
    assert_eq!(host.hits().await, json!({}));
}
