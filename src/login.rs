//! `capsule-mcp auth login | status | logout`: the OAuth authorization-code flow with a
//! one-shot redirect listener on 127.0.0.1, and what is stored, shown and revoked.

use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::capsule::{
    ClientOptions, identity,
    oauth::{self, OAuthApp},
};
use crate::credentials::{StoredCredentials, TokenFile};

pub struct LoginOptions {
    pub api_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub port: u16,
    pub no_browser: bool,
    pub scope: String,
    pub timeout: Duration,
}

/// Runs the flow and stores the tokens; returns a line to print.
pub async fn login(opts: LoginOptions, file: &TokenFile) -> anyhow::Result<String> {
    let app = OAuthApp::for_api_url(
        &opts.api_url,
        opts.client_id.clone(),
        opts.client_secret.clone(),
    )?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{} for the redirect", opts.port))?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let auth = oauth::authorize(&app, &redirect_uri, &opts.scope)?;
    eprintln!("Open this URL in a browser to connect capsule-mcp to Capsule:");
    // The URL goes to stdout on its own line so scripts (and tests) can pick it up.
    println!("{}", auth.url);
    if !opts.no_browser {
        open_browser(&auth.url);
    }
    let code = tokio::time::timeout(opts.timeout, wait_for_code(&listener, &auth.state))
        .await
        .map_err(|_| anyhow::anyhow!("no answer from the browser within {:?}", opts.timeout))??;
    let http = oauth::http_client()?;
    let tokens = oauth::exchange_code(&app, &http, &code, auth.verifier, &redirect_uri)
        .await
        .context("Capsule did not exchange the authorization code")?;
    let obtained_at = chrono::Utc::now().timestamp();
    let mut creds = StoredCredentials {
        api_url: opts.api_url.clone(),
        client_id: opts.client_id,
        client_secret: opts.client_secret,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens
            .expires_in
            .and_then(|s| obtained_at.checked_add(i64::try_from(s).ok()?)),
        obtained_at,
        scope: tokens.scope,
        subdomain: tokens.subdomain,
        user: None,
    };
    creds.user = current_user(&opts.api_url, &creds.access_token).await.ok();
    file.save(&creds)?;
    Ok(format!(
        "Logged in to Capsule{}{}. Stored in {}.",
        creds
            .user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default(),
        creds
            .subdomain
            .as_deref()
            .map(|s| format!(" (account {s})"))
            .unwrap_or_default(),
        file.describe()
    ))
}

fn open_browser(url: &str) {
    let candidates: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["explorer"]
    } else {
        &["xdg-open", "sensible-browser"]
    };
    for cmd in candidates {
        if std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
        {
            return;
        }
    }
    eprintln!("(no browser could be opened; open the URL yourself)");
}

/// Serves the redirect: answers requests until one to /callback carries this login's `state`.
/// Anything else (a stray request, another page's guess, a wrong state) is answered and
/// ignored, so it can neither hang nor end the login; a silent connection is dropped.
async fn wait_for_code(listener: &tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut sock, _) = listener.accept().await?;
        let head = match tokio::time::timeout(Duration::from_secs(5), read_head(&mut sock)).await {
            Ok(Ok(head)) => head,
            _ => continue,
        };
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/");
        let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
            respond(&mut sock, 400, "Bad request").await;
            continue;
        };
        if url.path() != "/callback" {
            respond(&mut sock, 404, "Not found").await;
            continue;
        }
        let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        if q.get("state").map(String::as_str) != Some(state) {
            respond(&mut sock, 400, "This answer does not belong to this login.").await;
            continue;
        }
        if let Some(err) = q.get("error") {
            respond(
                &mut sock,
                400,
                "Capsule did not authorise capsule-mcp. You can close this window.",
            )
            .await;
            // Debug-quoted: the text came from a URL and must not drive the terminal.
            bail!("Capsule refused the authorisation: {err:?}");
        }
        let Some(code) = q.get("code").cloned() else {
            respond(&mut sock, 400, "No code in the answer.").await;
            continue;
        };
        respond(
            &mut sock,
            200,
            "capsule-mcp is connected to Capsule. You can close this window.",
        )
        .await;
        return Ok(code);
    }
}

/// Reads a request head (up to 8 KiB).
async fn read_head(sock: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        let n = sock.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

async fn respond(sock: &mut tokio::net::TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!("<!doctype html><title>capsule-mcp</title><p>{text}</p>");
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// The connected user's name, from `/users/current`.
pub async fn current_user(api_url: &str, token: &SecretString) -> anyhow::Result<String> {
    let options = ClientOptions {
        api_url: api_url.to_owned(),
        ..Default::default()
    };
    let user = identity::current_user(options, token.clone()).await?;
    Ok(identity::display_name(&user))
}

/// What `auth status` prints: which credential is in use, never the token.
pub async fn status(api_url: &str, file: &TokenFile) -> anyhow::Result<(bool, String)> {
    if let Some(token) = crate::config::capsule_access_token() {
        let who = current_user(api_url, &token).await;
        return Ok(match who {
            Ok(u) => (
                true,
                format!(
                    "Using CAPSULE_ACCESS_TOKEN (personal access token) as {u} at {api_url}.{}",
                    if file.load().ok().flatten().is_some() {
                        " A stored OAuth login exists but the environment token takes precedence."
                    } else {
                        ""
                    }
                ),
            ),
            Err(e) => (
                false,
                format!("CAPSULE_ACCESS_TOKEN is set but Capsule refused it: {e:#}"),
            ),
        });
    }
    let Some(c) = file.load()? else {
        return Ok((
            false,
            "Not logged in: run `capsule-mcp auth login`, or set CAPSULE_ACCESS_TOKEN.".into(),
        ));
    };
    let now = chrono::Utc::now().timestamp();
    let expiry = match c.expires_at {
        Some(at) if at > now => format!("access token expires in {}", human(at - now)),
        Some(_) => "access token expired (it is refreshed on the next call)".into(),
        None => "access token has no stated expiry".into(),
    };
    Ok((
        true,
        format!(
            "Using the OAuth login stored in {}\n  user: {}\n  account: {}\n  API: {}\n  scopes: {}\n  {}\n  refresh token: {}",
            file.describe(),
            c.user.as_deref().unwrap_or("unknown"),
            c.subdomain.as_deref().unwrap_or("unknown"),
            c.api_url,
            c.scope.as_deref().unwrap_or("unknown"),
            expiry,
            if c.refresh_token.is_some() {
                "stored"
            } else {
                "none"
            },
        ),
    ))
}

fn human(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{} days", s / 86_400),
        s if s >= 3_600 => format!("{} hours", s / 3_600),
        s if s >= 60 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// Revokes what Capsule allows and deletes the stored tokens.
pub async fn logout(file: &TokenFile) -> anyhow::Result<String> {
    let Some(c) = file.load().or_else(|e| match e {
        // A file others can read is still deleted on logout.
        crate::credentials::StoreError::TooOpen { .. } => Ok(None),
        other => Err(other),
    })?
    else {
        let deleted = file.delete()?;
        return Ok(if deleted {
            "Deleted the stored credentials.".into()
        } else {
            "Not logged in: nothing to do.".into()
        });
    };
    let mut notes = Vec::new();
    match OAuthApp::for_api_url(&c.api_url, c.client_id.clone(), c.client_secret.clone()) {
        Ok(app) => {
            let http = oauth::http_client()?;
            let mut tokens = vec![&c.access_token];
            if let Some(r) = &c.refresh_token {
                tokens.push(r);
            }
            for t in tokens {
                if let Err(e) = oauth::revoke(&app, &http, t).await {
                    notes.push(format!("Capsule did not confirm the revocation ({e})"));
                }
            }
        }
        Err(e) => notes.push(format!("tokens not revoked: {e}")),
    }
    file.delete()?;
    Ok(if notes.is_empty() {
        "Logged out: tokens revoked at Capsule and deleted.".into()
    } else {
        format!("Logged out: stored tokens deleted; {}.", notes.join("; "))
    })
}
