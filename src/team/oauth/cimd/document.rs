//! A fetched client ID metadata document made into a client: a JSON object whose `client_id`
//! is the URL it was fetched from, exactly; whose `redirect_uris` pass the rules a registration
//! must; a public client (`token_endpoint_auth_method` `none` or absent, no `client_secret`),
//! since anyone can read the document; and only the code flow with refreshes.

use serde::Deserialize;
use serde_json::Value;

use crate::team::oauth::{
    clients::{ClientRecord, check_flows, check_redirect_uris, clean_name},
    now,
};

#[derive(Deserialize)]
struct Document {
    client_id: Option<Value>,
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_secret: Option<Value>,
    client_secret_expires_at: Option<Value>,
}

/// The client the document at `url` describes, or what is wrong with the document.
pub fn validate(url: &str, body: &[u8]) -> Result<ClientRecord, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the metadata document is not JSON ({e})"))?;
    if !value.is_object() {
        return Err("the metadata document must be a JSON object".into());
    }
    let doc: Document = serde_json::from_value(value)
        .map_err(|e| format!("the metadata document has a field of the wrong type ({e})"))?;
    match doc.client_id.as_ref().and_then(Value::as_str) {
        Some(id) if id == url => {}
        Some(_) => {
            return Err(
                "the metadata document's client_id differs from the URL it is served at; they \
                 must be equal, character for character"
                    .into(),
            );
        }
        None => return Err("the metadata document has no client_id".into()),
    }
    if doc.client_secret.is_some() || doc.client_secret_expires_at.is_some() {
        return Err(
            "the metadata document carries a client_secret; a document anyone can read cannot \
             hold a secret, so the client must be public"
                .into(),
        );
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "the metadata document asks for token_endpoint_auth_method {other:?}; this \
                 server accepts only public clients (none) through metadata documents"
            ));
        }
    }
    let redirect_uris = doc.redirect_uris.unwrap_or_default();
    check_redirect_uris(&redirect_uris)
        .map_err(|(_, why)| format!("the metadata document's redirect_uris: {why}"))?;
    let grant_types = doc
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    let response_types = doc.response_types.unwrap_or_else(|| vec!["code".into()]);
    check_flows(&grant_types, &response_types)
        .map_err(|why| format!("the metadata document's {why}"))?;
    Ok(ClientRecord {
        client_id: url.to_owned(),
        client_name: clean_name(doc.client_name),
        redirect_uris,
        auth_method: "none".into(),
        secret_hash: None,
        issued_at: now(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use serde_json::json;

    use super::validate;

    const URL: &str = "https://app.example/client.json";

    fn doc(extra: serde_json::Value) -> Vec<u8> {
        let mut d = json!({
            "client_id": URL,
            "client_name": "App",
            "redirect_uris": ["http://127.0.0.1:3000/callback", "https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "client_uri": "https://app.example",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                d.as_object_mut().unwrap().remove(k);
            } else {
                d[k] = v.clone();
            }
        }
        serde_json::to_vec(&d).unwrap()
    }

    #[test]
    fn a_good_document_is_a_public_client() {
        let c = validate(URL, &doc(json!({}))).unwrap();
        assert_eq!(c.client_id, URL);
        assert_eq!(c.client_name.as_deref(), Some("App"));
        assert_eq!(c.auth_method, "none");
        assert!(c.secret_hash.is_none());
        assert!(c.redirect_for("http://127.0.0.1:4567/callback").is_some());
        assert!(c.redirect_for("https://evil.example/cb").is_none());
        // The optional fields may be left out, and a name is cleaned of control characters.
        let c = validate(
            URL,
            &doc(
                json!({"token_endpoint_auth_method": null, "grant_types": null,
                        "response_types": null, "client_name": "A\u{7}pp"}),
            ),
        )
        .unwrap();
        assert_eq!(c.client_name.as_deref(), Some("App"));
    }

    #[test]
    fn bad_documents_are_refused_saying_why() {
        for (extra, says) in [
            (
                json!({"client_id": "https://app.example/other.json"}),
                "differs",
            ),
            (
                json!({"client_id": "https://app.example/client.json/"}),
                "differs",
            ),
            (json!({"client_id": null}), "no client_id"),
            (json!({"client_id": 7}), "no client_id"),
            (json!({"redirect_uris": null}), "redirect_uris"),
            (json!({"redirect_uris": []}), "redirect_uris"),
            (
                json!({"redirect_uris": ["http://evil.example/cb"]}),
                "redirect_uris",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb#f"]}),
                "fragment",
            ),
            (
                json!({"redirect_uris": "https://a.example/cb"}),
                "wrong type",
            ),
            (
                json!({"token_endpoint_auth_method": "client_secret_basic"}),
                "public",
            ),
            (
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
                "public",
            ),
            (json!({"client_secret": "s3cret"}), "secret"),
            (
                json!({"grant_types": ["client_credentials"]}),
                "grant_types",
            ),
            (json!({"response_types": ["token"]}), "response_types"),
        ] {
            let e = validate(URL, &doc(extra.clone())).unwrap_err();
            assert!(e.contains(says), "{extra}: {e}");
        }
        assert!(validate(URL, b"[1]").unwrap_err().contains("object"));
        assert!(validate(URL, b"<html>").unwrap_err().contains("not JSON"));
    }
}
