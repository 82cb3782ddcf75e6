//! Capsule's pagination: `page`/`perPage` query parameters and RFC 5988 `Link` headers.

/// Largest page Capsule serves on most lists.
pub const MAX_PER_PAGE: u32 = 100;
/// Largest page on a record's entries (`/parties/{id}/entries`, ...).
pub const MAX_ENTRIES_PER_PAGE: u32 = 50;

/// The URL of `rel="next"` in a `Link` header value, if any.
pub fn next_link(header: &str) -> Option<String> {
    link_with_rel(header, "next")
}

/// The URL of the link with relation `rel` in a `Link` header value.
pub fn link_with_rel(header: &str, rel: &str) -> Option<String> {
    for part in split_links(header) {
        let part = part.trim();
        let Some(rest) = part.strip_prefix('<') else {
            continue;
        };
        let Some(end) = rest.find('>') else {
            continue;
        };
        let url = &rest[..end];
        let params = &rest[end + 1..];
        let matches = params.split(';').any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == rel))
                .unwrap_or(false)
        });
        if matches {
            return Some(url.to_owned());
        }
    }
    None
}

/// Split on commas that are outside `<...>` (URLs may contain commas, e.g. `embed=tags,fields`).
fn split_links(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in header.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_next_and_prev_in_any_order() {
        let h = r#"<https://api.capsulecrm.com/api/v2/parties?page=1&perPage=50>; rel="prev", <https://api.capsulecrm.com/api/v2/parties?page=3&perPage=50>; rel="next""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.capsulecrm.com/api/v2/parties?page=3&perPage=50")
        );
        assert_eq!(
            link_with_rel(h, "prev").as_deref(),
            Some("https://api.capsulecrm.com/api/v2/parties?page=1&perPage=50")
        );
    }

    #[test]
    fn keeps_commas_inside_urls() {
        let h = r#"<http://127.0.0.1:1/api/v2/parties?embed=tags,fields&page=2>; rel="next""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("http://127.0.0.1:1/api/v2/parties?embed=tags,fields&page=2")
        );
    }

    #[test]
    fn no_next_on_last_page_or_garbage() {
        assert_eq!(
            next_link(r#"<https://x/api/v2/p?page=1>; rel="prev""#),
            None
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage, <unterminated; rel=next"), None);
        assert_eq!(next_link(r#"<u>; rel=next"#).as_deref(), Some("u"));
    }
}
