//! OAuth parameters from a query string or a form body: each at most once (RFC 6749 §3.1).

use std::collections::HashMap;

pub(super) struct Params(HashMap<String, String>);

impl Params {
    /// The parameters, or the name of one that was sent twice.
    pub(super) fn parse(raw: &[u8]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(format!("the parameter {k} was sent more than once"));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value, when present and not empty.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::Params;

    #[test]
    fn a_parameter_sent_twice_is_refused() {
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(Params::parse(b"a=1&a=2").is_err());
    }
}
