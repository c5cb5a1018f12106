//! Placeholders and the URL templates that use them: `https://{YOUR_SUBDOMAIN}.onetrust.com/auth/login`.
//!
//! A template is checked when the catalog loads (every `{NAME}` is declared, a URL-valued placeholder stands
//! alone), a value is checked for its kind when an admin fills it, and rendering fails on any placeholder without
//! a value, so an unfilled placeholder can never reach an SP.

use std::collections::BTreeMap;

/// What a placeholder's value must look like. Each kind keeps the value safe where the template puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceholderKind {
    /// One DNS label (`acme`), lower-cased.
    Subdomain,
    /// A DNS host name of two or more labels (`acme.interactgo.com`), lower-cased.
    Host,
    /// An absolute https URL without user info or fragment, kept exactly as given (SPs compare it byte for byte).
    Url,
    /// An identifier that is safe in a URL path: letters, digits, `.`, `_` and `-`.
    Token,
    /// A SAML entity ID: a URN or an absolute URL, without white space.
    EntityId,
}

impl PlaceholderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subdomain => "subdomain",
            Self::Host => "host",
            Self::Url => "url",
            Self::Token => "token",
            Self::EntityId => "entity_id",
        }
    }

    /// Whether a value of this kind is a whole URL or entity ID, which a template may only use on its own.
    pub fn is_whole_value(self) -> bool {
        matches!(self, Self::Url | Self::EntityId)
    }

    /// Checks a value and returns it in its canonical form, or says what is wrong with it.
    pub fn check(self, value: &str) -> Result<String, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("is empty".into());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains white space or control characters".into());
        }
        match self {
            Self::Subdomain => {
                let lower = value.to_ascii_lowercase();
                if is_dns_label(&lower) {
                    Ok(lower)
                } else {
                    Err(format!("{value:?} is not a subdomain (one DNS label: letters, digits and inner '-')"))
                }
            }
            Self::Host => {
                let lower = value.to_ascii_lowercase();
                let labels: Vec<&str> = lower.split('.').collect();
                if lower.len() <= 253 && labels.len() >= 2 && labels.iter().all(|l| is_dns_label(l)) {
                    Ok(lower)
                } else {
                    Err(format!("{value:?} is not a host name such as example.com"))
                }
            }
            Self::Url => match url::Url::parse(value) {
                Ok(u)
                    if u.scheme() == "https"
                        && u.host_str().is_some_and(|h| !h.is_empty())
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.fragment().is_none() =>
                {
                    Ok(value.to_owned())
                }
                _ => Err(format!("{value:?} is not an absolute https URL (no user info, no #fragment)")),
            },
            Self::Token => {
                let ok = value.len() <= 128
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    && !value.starts_with('.');
                if ok {
                    Ok(value.to_owned())
                } else {
                    Err(format!("{value:?} may only hold letters, digits, '.', '_' and '-' (at most 128)"))
                }
            }
            Self::EntityId => {
                let is_urn = value.len() > 4 && value.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
                let is_url = url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if value.len() <= 1024 && (is_urn || is_url) {
                    Ok(value.to_owned())
                } else {
                    Err(format!("{value:?} is not an entity ID (a urn: or an http(s) URL)"))
                }
            }
        }
    }
}

/// A value the admin fills in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placeholder {
    pub name: String,
    pub label: String,
    pub kind: PlaceholderKind,
    pub example: String,
    /// Where the placeholder comes from: the article's section, or why it was added.
    pub source: String,
}

/// RFC 1123 label: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A text with `{NAME}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

impl Template {
    /// Parses `text`. Placeholder names are upper-case ASCII letters, digits and `_`; a brace is nothing else.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, after) = rest.split_at(open);
            if literal.contains('}') {
                return Err(format!("{text:?} has a '}}' without '{{'"));
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let after = after.get(1..).unwrap_or_default();
            let Some(close) = after.find('}') else {
                return Err(format!("{text:?} has a '{{' without '}}'"));
            };
            let (name, tail) = after.split_at(close);
            let is_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !is_name {
                return Err(format!("{text:?}: {{{name}}} is not a placeholder name (upper case, digits, '_')"));
            }
            parts.push(Part::Placeholder(name.to_owned()));
            rest = tail.get(1..).unwrap_or_default();
        }
        if rest.contains('}') {
            return Err(format!("{text:?} has a '}}' without '{{'"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { text: text.to_owned(), parts })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholder names it uses, in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Whether the template is exactly one placeholder and nothing else.
    pub fn is_single_placeholder(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Placeholder(_)])
    }

    /// Substitutes every placeholder; the names without a value are the error, in order, without repeats.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
        let mut out = String::new();
        let mut missing: Vec<String> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(name) => match values.get(name) {
                    Some(value) => out.push_str(value),
                    None if missing.contains(name) => {}
                    None => missing.push(name.clone()),
                },
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn renders_and_reports_every_missing_placeholder_once() {
        let t = Template::parse("https://{A}.example.com/{B}/{A}").unwrap();
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["A", "B", "A"]);
        assert_eq!(t.render(&values(&[("A", "x"), ("B", "y")])).unwrap(), "https://x.example.com/y/x");
        assert_eq!(t.render(&values(&[])).unwrap_err(), ["A", "B"]);
        assert!(Template::parse("{ONLY}").unwrap().is_single_placeholder());
        assert!(!t.is_single_placeholder());
    }

    #[test]
    fn refuses_malformed_templates() {
        for bad in ["https://{a}.x", "https://{}.x", "https://{A.x", "https://A}.x", "{A}}", "{{A}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Template::parse("no placeholders").unwrap().placeholders().count(), 0);
    }

    #[test]
    fn checks_values_by_kind() {
        let check = |kind: PlaceholderKind, value: &str| kind.check(value);
        assert_eq!(check(PlaceholderKind::Subdomain, " Acme-1 ").unwrap(), "acme-1");
        for bad in ["", "a.b", "-a", "a-", "a/b", "a b", "é", &"a".repeat(64), "x?y=1"] {
            assert!(check(PlaceholderKind::Subdomain, bad).is_err(), "{bad}");
        }
        assert_eq!(check(PlaceholderKind::Host, "Acme.InteractGo.com").unwrap(), "acme.interactgo.com");
        for bad in ["acme", "acme.", "a..b", "a.b/c", "a.b:443", "a_b.com", "evil.com#"] {
            assert!(check(PlaceholderKind::Host, bad).is_err(), "{bad}");
        }
        let acs = "https://acme.goskope.com/nsauth/saml2/http-post/acme/acs";
        assert_eq!(check(PlaceholderKind::Url, acs).unwrap(), acs);
        for bad in ["http://acme.goskope.com", "javascript:alert(1)", "https://u:p@x.com/", "https://x.com/#f", "/acs"]
        {
            assert!(check(PlaceholderKind::Url, bad).is_err(), "{bad}");
        }
        assert!(check(PlaceholderKind::Token, "5f3c2a_1-b.9").is_ok());
        for bad in ["a/b", "../x", "a%2fb", ".hidden", "a?b"] {
            assert!(check(PlaceholderKind::Token, bad).is_err(), "{bad}");
        }
        assert!(check(PlaceholderKind::EntityId, "urn:interact:acme123").is_ok());
        assert!(check(PlaceholderKind::EntityId, "https://sp.example.com/metadata").is_ok());
        for bad in ["acme", "urn:", "urn:a b", "ftp://x.example.com"] {
            assert!(check(PlaceholderKind::EntityId, bad).is_err(), "{bad}");
        }
    }
}
