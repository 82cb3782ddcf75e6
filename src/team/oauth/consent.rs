//! The consent page: names the MCP client and where it will send the person, with Approve and
//! Deny buttons that post the one-use transaction id (the form's CSRF protection). A client
//! known by its metadata document is also named by the host serving that document, since its
//! `client_name` is whatever the document claims (the draft's phishing considerations).

use axum::{http::StatusCode, response::Response};

use super::{authorize::AuthRequest, clients::ClientRecord, html_escape, html_page};

pub fn page(client: &ClientRecord, request: &AuthRequest, transaction: &str) -> Response {
    let name = html_escape(client.display_name());
    let host = url::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let host = html_escape(&host);
    let scope = html_escape(&request.scope);
    let tx = html_escape(transaction);
    // A metadata document can claim any name: say whose site it comes from, prominently.
    let origin = match client.document_host() {
        Some(site) => {
            let site = html_escape(&site);
            format!(
                r#"<p class="client-id-host">This client describes itself at
<b class="client-host">{site}</b>: the name above is what that site says, and only the
address is checked. Approve only if you trust <b>{site}</b>.</p>
"#
            )
        }
        None => String::new(),
    };
    html_page(
        StatusCode::OK,
        format!(
            r#"<!doctype html>
<html><head><meta charset="utf-8"><title>capsule-mcp: connect {name}?</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}button{{margin-right:1em}}</style>
</head><body>
<h1>Connect <span class="client-name">{name}</span> to Capsule?</h1>
{origin}<p>The MCP client <b>{name}</b> asks to act in your Capsule account through this server
(<code>{scope}</code>). When you approve, Capsule asks you to sign in and authorise, and then
you are sent back to <b class="redirect-host">{host}</b>.</p>
<p>Only approve if you started this from that client.</p>
<form method="post" action="/authorize/decision">
<input type="hidden" name="transaction" value="{tx}">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
"#
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_page_names_the_client_escaped_and_may_not_be_framed() {
        let client = ClientRecord {
            client_id: "id".into(),
            client_name: Some("<script>alert(1)</script>".into()),
            redirect_uris: vec!["http://127.0.0.1:5/cb".into()],
            auth_method: "none".into(),
            secret_hash: None,
            issued_at: 0,
        };
        let request = AuthRequest {
            client_id: "id".into(),
            redirect_uri: "http://127.0.0.1:5/cb".into(),
            state: None,
            code_challenge: "c".into(),
            resource: "r".into(),
            scope: "read write".into(),
        };
        let r = page(&client, &request, "tx\"1");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<script>"));
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(body.contains(r#"value="tx&quot;1""#));
        assert!(body.contains("127.0.0.1"));
        assert!(
            !body.contains("client-id-host"),
            "a registered client has no document host"
        );
    }

    #[tokio::test]
    async fn a_document_client_is_named_with_its_host() {
        let client = ClientRecord {
            client_id: "https://tools.example:8443/mcp/client.json".into(),
            client_name: Some("Claude".into()),
            redirect_uris: vec!["https://tools.example/cb".into()],
            auth_method: "none".into(),
            secret_hash: None,
            issued_at: 0,
        };
        let request = AuthRequest {
            client_id: client.client_id.clone(),
            redirect_uri: "https://tools.example/cb".into(),
            state: None,
            code_challenge: "c".into(),
            resource: "r".into(),
            scope: "read".into(),
        };
        let r = page(&client, &request, "tx");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains(r#"<span class="client-name">Claude</span>"#));
        assert!(
            body.contains(r#"<b class="client-host">tools.example:8443</b>"#),
            "{body}"
        );
    }
}
