//! Who may talk to the server: the `Host` / `Origin` checks (every path) and bearer auth
//! (`/mcp`). A refusal carries a JSON-RPC error body.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::{HttpOptions, responses::error_response};

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "capsule-mcp";

/// Parsed, immutable request policy shared by the middleware.
pub(super) struct Guard {
    hosts: Vec<AllowedHost>,
    origins: Vec<AllowedOrigin>,
}

impl Guard {
    pub(super) fn new(opts: &HttpOptions) -> anyhow::Result<Self> {
        let hosts = opts
            .allowed_hosts
            .iter()
            .map(|h| AllowedHost::parse(h).ok_or_else(|| anyhow::anyhow!("bad host {h:?}")))
            .collect::<anyhow::Result<_>>()?;
        let origins = opts
            .allowed_origins
            .iter()
            .map(|o| AllowedOrigin::parse(o).ok_or_else(|| anyhow::anyhow!("bad origin {o:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { hosts, origins })
    }
}

/// Why a request's host is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HostProblem {
    /// No `Host` header and no authority in the request target.
    Missing,
    /// A `Host` value or target authority that is not `host[:port]` (userinfo included).
    Malformed,
    /// Two sources naming different hosts: several `Host` headers, or a `Host` that does not
    /// match an absolute-form target.
    Ambiguous,
    /// A well-formed host that is not in the allowed list.
    NotAllowed,
}

/// The one host a request is for: every `Host` header and the request target's authority
/// (absolute-form, or HTTP/2's `:authority`) must parse as `host[:port]` without userinfo and
/// name the same host and port.
pub(super) fn request_host(
    headers: &HeaderMap,
    uri: &http::Uri,
) -> Result<(String, Option<u16>), HostProblem> {
    let mut found: Option<(String, Option<u16>)> = None;
    let header_values = headers
        .get_all(header::HOST)
        .iter()
        .map(|v| v.to_str().ok());
    let target = uri.authority().map(|a| Some(a.as_str()));
    for value in header_values.chain(target) {
        let parsed = value
            .and_then(|s| {
                if s.contains('@') {
                    return None;
                }
                http::uri::Authority::try_from(s.trim()).ok()
            })
            .ok_or(HostProblem::Malformed)?;
        let this = (normalize_host(parsed.host()), parsed.port_u16());
        match &found {
            Some(seen) if *seen != this => return Err(HostProblem::Ambiguous),
            Some(_) => {}
            None => found = Some(this),
        }
    }
    found.ok_or(HostProblem::Missing)
}

/// Outermost layer, every path: DNS-rebinding (`Host`) and cross-origin (`Origin`) checks.
pub(super) async fn check_host_and_origin(
    State(guard): State<Arc<Guard>>,
    req: Request,
    next: Next,
) -> Response {
    let refusal = match request_host(req.headers(), req.uri()) {
        Ok((host, port)) if guard.hosts.iter().any(|a| a.matches(&host, port)) => None,
        Ok((host, port)) => {
            tracing::warn!(%host, ?port, "rejected request: Host not allowed (possible DNS rebinding)");
            Some(HostProblem::NotAllowed)
        }
        Err(problem) => {
            tracing::warn!(
                ?problem,
                "rejected request: ambiguous, malformed or missing Host"
            );
            Some(problem)
        }
    };
    match refusal {
        None => {}
        Some(HostProblem::Missing) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "missing Host header",
            );
        }
        Some(_) => {
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Host header is not allowed",
            );
        }
    }
    let origins: Vec<&HeaderValue> = req.headers().get_all(header::ORIGIN).iter().collect();
    if !origins.is_empty() {
        let allowed = origins.len() == 1
            && origins[0]
                .to_str()
                .ok()
                .and_then(Origin::parse)
                .is_some_and(|o| guard.origins.iter().any(|a| a.matches(&o)));
        if !allowed {
            tracing::warn!(origin = ?origins, "rejected request: Origin not allowed");
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Origin header is not allowed",
            );
        }
    }
    next.run(req).await
}

/// `None` when the request carries exactly one `Authorization: Bearer <expected>`; the 401
/// otherwise.
pub(super) fn bearer_rejection(headers: &HeaderMap, expected: &SecretString) -> Option<Response> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    let presented = if values.next().is_some() {
        None
    } else {
        first.and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
    };
    let Some(presented) = presented else {
        tracing::warn!("rejected request: no bearer token");
        return Some(unauthorized(
            None,
            "this server requires Authorization: Bearer <CAPSULE_MCP_AUTH_TOKEN>",
        ));
    };
    if bool::from(
        presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        None
    } else {
        tracing::warn!("rejected request: wrong bearer token");
        Some(unauthorized(
            Some("invalid_token"),
            "the bearer token is not valid for this server",
        ))
    }
}

fn unauthorized(error: Option<&str>, message: &str) -> Response {
    let challenge = match error {
        Some(error) => format!(r#"Bearer realm="{REALM}", error="{error}""#),
        None => format!(r#"Bearer realm="{REALM}""#),
    };
    let mut response = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Host / Origin matching (same semantics as rmcp's own checks)
// ---------------------------------------------------------------------------------------------

fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

pub(super) fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An `allowed_hosts` entry: a host, with an optional port (none = any port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AllowedHost {
    pub(super) host: String,
    port: Option<u16>,
}

impl AllowedHost {
    pub(super) fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if entry.is_empty() || entry.contains(['@', '/', '*']) {
            return None;
        }
        // A bare IPv6 address ("::1") is not an authority; accept it as a host.
        if let Ok(ip) = entry.parse::<std::net::Ipv6Addr>() {
            return Some(Self {
                host: ip.to_string(),
                port: None,
            });
        }
        let authority = http::uri::Authority::try_from(entry).ok()?;
        Some(Self {
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }

    pub(super) fn matches(&self, host: &str, port: Option<u16>) -> bool {
        self.host == host && self.port.is_none_or(|p| port == Some(p))
    }
}

/// A parsed `Origin` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

impl Origin {
    pub(super) fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("null") {
            return Some(Self::Null);
        }
        let uri = http::Uri::try_from(value).ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Some(Self::Tuple {
            scheme,
            host: normalize_host(authority.host()),
            port: authority.port_u16(),
        })
    }
}

/// An `allowed_origins` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AllowedOrigin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        /// `None` = any port (`:*`, or no port given, as rmcp currently does).
        port: Option<u16>,
    },
}

impl AllowedOrigin {
    pub(super) fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim();
        if let Some(base) = entry.strip_suffix(":*") {
            return match Origin::parse(base)? {
                Origin::Tuple {
                    scheme,
                    host,
                    port: None,
                } => Some(Self::Tuple {
                    scheme,
                    host,
                    port: None,
                }),
                _ => None,
            };
        }
        Some(match Origin::parse(entry)? {
            Origin::Null => Self::Null,
            Origin::Tuple { scheme, host, port } => Self::Tuple { scheme, host, port },
        })
    }

    pub(super) fn matches(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (Self::Null, Origin::Null) => true,
            (
                Self::Tuple { scheme, host, port },
                Origin::Tuple {
                    scheme: o_scheme,
                    host: o_host,
                    port: o_port,
                },
            ) => {
                scheme == o_scheme
                    && host == o_host
                    && port.is_none_or(|p| o_port.or_else(|| default_port(o_scheme)) == Some(p))
            }
            _ => false,
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn headers(hosts: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(header::HOST, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_host_source_must_agree_and_carry_no_userinfo() {
        let origin_form: http::Uri = "/mcp".parse().unwrap();
        let ok = |hosts: &[&str], uri: &http::Uri| request_host(&headers(hosts), uri);
        assert_eq!(
            ok(&["localhost"], &origin_form),
            Ok(("localhost".into(), None))
        );
        assert_eq!(
            ok(&["LOCALHOST:8787"], &origin_form),
            Ok(("localhost".into(), Some(8787)))
        );
        assert_eq!(
            ok(&["localhost", "evil.example"], &origin_form),
            Err(HostProblem::Ambiguous)
        );
        assert_eq!(
            ok(&["localhost", "localhost"], &origin_form),
            Ok(("localhost".into(), None))
        );
        assert_eq!(
            ok(&["user@localhost"], &origin_form),
            Err(HostProblem::Malformed)
        );
        assert_eq!(ok(&["a b"], &origin_form), Err(HostProblem::Malformed));
        assert_eq!(ok(&[], &origin_form), Err(HostProblem::Missing));
        let absolute: http::Uri = "http://evil.example/mcp".parse().unwrap();
        assert_eq!(ok(&["localhost"], &absolute), Err(HostProblem::Ambiguous));
        assert_eq!(ok(&[], &absolute), Ok(("evil.example".into(), None)));
        let same: http::Uri = "http://[::1]:9/mcp".parse().unwrap();
        assert_eq!(ok(&["[::1]:9"], &same), Ok(("::1".into(), Some(9))));
        let userinfo: http::Uri = "http://u@localhost/mcp".parse().unwrap();
        assert_eq!(ok(&["localhost"], &userinfo), Err(HostProblem::Malformed));
    }

    #[test]
    fn host_and_origin_matching() {
        let h = AllowedHost::parse("::1").unwrap();
        assert!(h.matches("::1", Some(9)));
        let h = AllowedHost::parse("[::1]").unwrap();
        assert!(h.matches("::1", None));
        let h = AllowedHost::parse("Example.com:8443").unwrap();
        assert!(h.matches("example.com", Some(8443)));
        assert!(!h.matches("example.com", Some(443)));
        assert!(AllowedHost::parse("user@host").is_none());

        let any = AllowedOrigin::parse("http://[::1]:*").unwrap();
        assert!(any.matches(&Origin::parse("http://[::1]:3000").unwrap()));
        assert!(!any.matches(&Origin::parse("https://[::1]:3000").unwrap()));
        let exact = AllowedOrigin::parse("https://app.example:443").unwrap();
        assert!(exact.matches(&Origin::parse("https://app.example").unwrap()));
        assert!(!exact.matches(&Origin::parse("https://app.example:8443").unwrap()));
        assert!(!exact.matches(&Origin::Null));
        assert!(AllowedOrigin::parse("null").unwrap().matches(&Origin::Null));
        assert!(Origin::parse("http://user@localhost:1").is_none());
    }
}
