//! The URL a client uses as its `client_id`: https with a path (the draft's §3), in normal form
//! so that the document's `client_id` can be compared with it as a plain string; no user name,
//! fragment or dot segments; a port is fine, a query allowed. `http`, and any loopback host,
//! only when loopback documents are allowed (tests).

use super::address;
use crate::team::oauth::clients::is_loopback;

const MAX_LEN: usize = 2000;

/// The parsed URL, or what is wrong with it.
pub fn check(raw: &str, allow_loopback: bool) -> Result<url::Url, String> {
    if raw.len() > MAX_LEN {
        return Err("the client_id URL is longer than 2000 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("the client_id is not a URL ({e})"))?;
    if raw.contains('#') {
        return Err("the client_id URL must not have a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the client_id URL must not carry a user name or password".into());
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback => {}
        _ => return Err("the client_id URL must use https".into()),
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("the client_id URL must have a path (such as /client.json)".into());
    }
    if raw
        .split(['?'])
        .next()
        .unwrap_or(raw)
        .split('/')
        .any(|seg| {
            seg == "."
                || seg == ".."
                || seg.eq_ignore_ascii_case("%2e")
                || seg.eq_ignore_ascii_case("%2e%2e")
        })
    {
        return Err("the client_id URL must not contain . or .. path segments".into());
    }
    if url.as_str() != raw {
        return Err(format!(
            "the client_id URL must be written in normal form, as {} (lowercase scheme and \
             host, no default port)",
            url.as_str()
        ));
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => refuse_ip(ip.into(), allow_loopback)?,
        Some(url::Host::Ipv6(ip)) => refuse_ip(ip.into(), allow_loopback)?,
        Some(url::Host::Domain(_)) if loopback && !allow_loopback => {
            return Err(
                "the client_id URL names localhost; this server fetches metadata documents only \
                 from public hosts (CAPSULE_MCP_OAUTH_ALLOW_LOOPBACK_CLIENT_IDS=1 allows \
                 loopback, for local tests)"
                    .into(),
            );
        }
        Some(url::Host::Domain(_)) => {}
        None => return Err("the client_id URL has no host".into()),
    }
    Ok(url)
}

fn refuse_ip(ip: std::net::IpAddr, allow_loopback: bool) -> Result<(), String> {
    match address::refusal(ip, allow_loopback) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::check;

    #[test]
    fn client_id_urls_are_https_with_a_path_in_normal_form() {
        for ok in [
            "https://app.example/client.json",
            "https://app.example:8443/oauth/client-metadata.json",
            "https://app.example/c?v=2",
            "https://93.184.215.14/c",
        ] {
            assert_eq!(
                check(ok, false).map(|u| u.to_string()),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        for (bad, says) in [
            ("http://app.example/client.json", "https"),
            ("https://app.example", "path"),
            ("https://app.example/", "path"),
            ("https://app.example/c#x", "fragment"),
            ("https://app.example/c#", "fragment"),
            ("https://u:p@app.example/c", "user name"),
            ("https://u@app.example/c", "user name"),
            ("https://app.example/a/../c", ".."),
            ("https://app.example/./c", "."),
            ("https://app.example/a/%2e%2e/c", ".."),
            ("https://APP.example/c", "normal form"),
            ("https://app.example:443/c", "normal form"),
            ("ftp://app.example/c", "https"),
            ("not a url", "not a URL"),
            ("https://10.1.2.3/c", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("https://[fd00::1]/c", "private"),
            ("https://127.0.0.1/c", "loopback"),
            ("https://localhost/c", "localhost"),
            ("http://127.0.0.1:5/c", "https"),
        ] {
            let e = check(bad, false).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let long = format!("https://app.example/{}", "a".repeat(2000));
        assert!(check(&long, false).is_err());
    }

    #[test]
    fn loopback_documents_only_when_allowed() {
        for lo in [
            "http://127.0.0.1:5/c",
            "https://127.0.0.1:5/c",
            "http://localhost:5/c",
            "https://[::1]:5/c",
        ] {
            assert!(check(lo, false).is_err(), "{lo}");
            assert!(check(lo, true).is_ok(), "{lo}");
        }
        // http stays refused off loopback, and private addresses stay refused.
        assert!(check("http://app.example/c", true).is_err());
        assert!(check("https://192.168.0.2/c", true).is_err());
    }
}
