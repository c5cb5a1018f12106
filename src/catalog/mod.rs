//! The connector catalog: one data file per service provider under `catalog/`, compiled into the binary, that
//! turns a few admin-supplied values (the article's placeholders) into complete SSO settings, and describes the
//! SP's SCIM side as data for the provisioning module.
//!
//! Architecture Invariant: this module is pure. It parses the embedded files, checks and substitutes placeholder
//! values and builds `directory` settings and `mapping` tables; it does no IO, and a placeholder without a value
//! never yields a URL. It knows nothing of provisioning, the store or HTTP: it may use `mapping`, `directory` and
//! `saml` value types only.

pub mod scim;
pub mod template;

use std::collections::BTreeMap;

use crate::catalog::scim::{SameSource, Scim, ScimAttribute};
use crate::catalog::template::{Placeholder, Template};
use crate::directory::application::{check_settings, ConnectorRef, SpSettings};
use crate::directory::{Application, AttributeMapping, AttributeSource, UserProperty};
use crate::mapping::{ScimSource, UserMapping};
use crate::saml::authn_request::{AcsEndpoint, HTTP_POST};
use crate::saml::{NameIdFormat, SigningMode};

/// The connectors shipped in the binary: `catalog/<id>.toml`, one per SP.
const EMBEDDED: [(&str, &str); 5] = [
    ("hoxhunt", include_str!("../../catalog/hoxhunt.toml")),
    ("interact", include_str!("../../catalog/interact.toml")),
    ("netskope", include_str!("../../catalog/netskope.toml")),
    ("onetrust", include_str!("../../catalog/onetrust.toml")),
    ("zscaler", include_str!("../../catalog/zscaler.toml")),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("catalog file {file}: {reason}")]
    BadEntry { file: String, reason: String },
    #[error("connector {id} is not in the catalog (see sesame catalog list)")]
    UnknownConnector { id: String },
    #[error("connector {connector} has no placeholder {name} (it has: {known})")]
    UnknownPlaceholder { connector: String, name: String, known: String },
    #[error("connector {connector} needs a value for {}", names.join(", "))]
    Unfilled { connector: String, names: Vec<String> },
    #[error("placeholder {name}: {problem}")]
    InvalidValue { name: String, problem: String },
    #[error("connector {connector} produced invalid settings: {reason}")]
    InvalidSettings { connector: String, reason: String },
}

/// All connectors, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    connectors: Vec<Connector>,
}

impl Catalog {
    /// The connectors compiled into the binary. Their tests make sure this succeeds; start-up checks it again.
    pub fn embedded() -> Result<Self, Error> {
        Self::parse(&EMBEDDED)
    }

    /// Parses `(id, toml)` pairs; the id is the file's stem and must match the `id` inside.
    pub fn parse(files: &[(&str, &str)]) -> Result<Self, Error> {
        let mut connectors = files
            .iter()
            .map(|(id, text)| {
                Connector::parse(text)
                    .and_then(|c| if c.id == *id { Ok(c) } else { Err(format!("its id is {:?}", c.id)) })
                    .map_err(|reason| Error::BadEntry { file: format!("{id}.toml"), reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        connectors.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = connectors.windows(2).find(|w| w.first().map(|c| &c.id) == w.get(1).map(|c| &c.id)) {
            let id = pair.first().map(|c| c.id.clone()).unwrap_or_default();
            return Err(Error::BadEntry { file: format!("{id}.toml"), reason: "the id is used twice".into() });
        }
        Ok(Self { connectors })
    }

    pub fn connectors(&self) -> &[Connector] {
        &self.connectors
    }

    pub fn get(&self, id: &str) -> Result<&Connector, Error> {
        self.connectors.iter().find(|c| c.id == id).ok_or_else(|| Error::UnknownConnector { id: id.to_owned() })
    }

    /// The SCIM side of the connector an application was created from, if any.
    pub fn connector_scim(&self, app: &Application) -> Option<&Scim> {
        let id = &app.sp.connector.as_ref()?.id;
        self.get(id).ok().map(|c| &c.scim)
    }

    /// The attributes the application's users carry to its SP: its connector's table, or the default one (before
    /// the entries an admin excluded).
    pub fn user_mapping(&self, app: &Application) -> UserMapping {
        self.connector_scim(app).map_or_else(UserMapping::default, Scim::user_mapping)
    }

    /// Connectors whose id, name or description contains every word of `query` (case-insensitive), as the
    /// "+ Add New Application" search box and `sesame catalog list QUERY` use it. An empty query matches all.
    pub fn search(&self, query: &str) -> Vec<&Connector> {
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        self.connectors
            .iter()
            .filter(|c| {
                let haystack = format!("{} {} {}", c.id, c.name, c.description).to_lowercase();
                words.iter().all(|w| haystack.contains(w.as_str()))
            })
            .collect()
    }
}

/// One SP's connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The values the admin fills for SSO, in the article's order.
    pub placeholders: Vec<Placeholder>,
    pub sso: Sso,
    pub scim: Scim,
}

/// The SAML side of a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sso {
    pub sp_entity_id: Template,
    /// The first is the default (IdP-initiated logins go there).
    pub acs_urls: Vec<Template>,
    pub login_url: Option<Template>,
    pub signing: SigningMode,
    /// The SP signs its AuthnRequests: the application requires and verifies them (RSA-SHA256).
    pub sp_signs_requests: bool,
    pub name_id_format: NameIdFormat,
    pub name_id_source: UserProperty,
    /// The attributes the application starts with; JIT ones are on by default with fixed names.
    pub attributes: Vec<AttributeMapping>,
    pub source: String,
}

/// Placeholder values that have been checked, canonical and complete for SSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    connector: String,
    values: BTreeMap<String, String>,
}

impl Filled {
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

impl Connector {
    /// Checks `given` (name, value) pairs, on top of `previous` values (an update keeps what was filled before).
    /// Unknown names and invalid values are refused; a placeholder left without a value is reported with all
    /// the others, so the admin sees every missing one at once.
    pub fn fill(&self, previous: &BTreeMap<String, String>, given: &[(String, String)]) -> Result<Filled, Error> {
        let mut values = BTreeMap::new();
        for (name, value) in previous {
            if self.placeholder(name).is_some() {
                values.insert(name.clone(), value.clone());
            }
        }
        for (name, value) in given {
            let Some(placeholder) = self.placeholder(name) else {
                let known: Vec<&str> = self.placeholders.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::UnknownPlaceholder {
                    connector: self.id.clone(),
                    name: name.clone(),
                    known: known.join(", "),
                });
            };
            let checked =
                placeholder.kind.check(value).map_err(|problem| Error::InvalidValue { name: name.clone(), problem })?;
            values.insert(name.clone(), checked);
        }
        let missing: Vec<String> =
            self.placeholders.iter().filter(|p| !values.contains_key(&p.name)).map(|p| p.name.clone()).collect();
        if !missing.is_empty() {
            return Err(Error::Unfilled { connector: self.id.clone(), names: missing });
        }
        Ok(Filled { connector: self.id.clone(), values })
    }

    /// The SSO settings of a new application from this connector.
    pub fn sp_settings(&self, filled: &Filled) -> Result<SpSettings, Error> {
        let render = |t: &Template| {
            t.render(&filled.values).map_err(|names| Error::Unfilled { connector: self.id.clone(), names })
        };
        let acs = self
            .sso
            .acs_urls
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(AcsEndpoint {
                    url: render(t)?,
                    binding: HTTP_POST.to_owned(),
                    index: u16::try_from(i).unwrap_or(u16::MAX),
                    is_default: i == 0,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let sp = SpSettings {
            entity_id: render(&self.sso.sp_entity_id)?,
            acs,
            require_signed_requests: self.sso.sp_signs_requests,
            name_id_format: self.sso.name_id_format,
            name_id_source: Some(self.sso.name_id_source),
            signing_mode: self.sso.signing,
            sp_login_url: self.sso.login_url.as_ref().map(render).transpose()?.unwrap_or_default(),
            attributes: self.sso.attributes.clone(),
            connector: Some(ConnectorRef { id: self.id.clone(), values: filled.values.clone() }),
            ..SpSettings::default()
        };
        check_settings(&sp)
            .map_err(|e| Error::InvalidSettings { connector: self.id.clone(), reason: e.to_string() })?;
        Ok(sp)
    }

    pub fn placeholder(&self, name: &str) -> Option<&Placeholder> {
        self.placeholders.iter().find(|p| p.name == name)
    }

    /// The JIT attributes (SP-side names) the connector sends by default.
    pub fn jit_attributes(&self) -> impl Iterator<Item = &str> {
        self.sso.attributes.iter().filter(|a| a.is_jit).map(|a| a.name.as_str())
    }

    fn parse(text: &str) -> Result<Self, String> {
        let raw: raw::Connector = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let id_ok = !raw.id.is_empty()
            && raw.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!("id {:?} must be lower-case letters, digits, '-' or '_'", raw.id));
        }
        let placeholders = raw.placeholders.into_iter().map(placeholder).collect::<Result<Vec<_>, _>>()?;
        let scim_placeholders = raw.scim.placeholders.into_iter().map(placeholder).collect::<Result<Vec<_>, _>>()?;
        let sso = sso(raw.sso)?;
        let scim = Scim {
            base_url: raw.scim.base_url.as_deref().map(Template::parse).transpose()?,
            base_url_example: raw.scim.base_url_example,
            placeholders: scim_placeholders,
            sso_required: raw.scim.sso_required,
            reconcile_interval_secs: raw.scim.reconcile_interval_mins.map(|m| m.saturating_mul(60)),
            groups_supported: raw.scim.groups_supported,
            soft_delete: raw.scim.soft_delete,
            user: raw.scim.user.into_iter().map(scim_attribute).collect::<Result<_, _>>()?,
            group: raw.scim.group.into_iter().map(scim_attribute).collect::<Result<_, _>>()?,
            same_source: raw
                .scim
                .same_source
                .into_iter()
                .map(|r| Ok(SameSource { paths: r.attributes, property: property(&r.property)? }))
                .collect::<Result<_, String>>()?,
            source: raw.scim.source,
        };
        scim::check(&scim)?;
        let connector = Self { id: raw.id, name: raw.name, description: raw.description, placeholders, sso, scim };
        connector.check_templates()?;
        Ok(connector)
    }

    /// Every placeholder a template uses is declared (SCIM-only ones only in the SCIM base URL), URL-valued ones
    /// stand alone, and every declared SSO placeholder is used somewhere.
    fn check_templates(&self) -> Result<(), String> {
        let sso_templates =
            std::iter::once(&self.sso.sp_entity_id).chain(&self.sso.acs_urls).chain(self.sso.login_url.as_ref());
        let mut used = Vec::new();
        for t in sso_templates {
            for name in t.placeholders() {
                let p = self.placeholder(name).ok_or_else(|| format!("{} uses undeclared {{{name}}}", t.as_str()))?;
                if p.kind.is_whole_value() && !t.is_single_placeholder() {
                    return Err(format!(
                        "{} puts the {} value {{{name}}} inside other text",
                        t.as_str(),
                        p.kind.as_str()
                    ));
                }
                used.push(name.to_owned());
            }
        }
        if let Some(t) = &self.scim.base_url {
            for name in t.placeholders() {
                let declared =
                    self.placeholder(name).or_else(|| self.scim.placeholders.iter().find(|p| p.name == name));
                let p = declared.ok_or_else(|| format!("{} uses undeclared {{{name}}}", t.as_str()))?;
                if p.kind.is_whole_value() {
                    return Err(format!(
                        "{} puts the {} value {{{name}}} inside other text",
                        t.as_str(),
                        p.kind.as_str()
                    ));
                }
            }
        }
        if let Some(unused) = self.placeholders.iter().find(|p| !used.contains(&p.name)) {
            return Err(format!("placeholder {} is declared but no SSO template uses it", unused.name));
        }
        if self.sso.acs_urls.is_empty() {
            return Err("a connector needs at least one ACS URL".into());
        }
        Ok(())
    }
}

fn placeholder(raw: raw::Placeholder) -> Result<Placeholder, String> {
    let probe = Template::parse(&format!("{{{}}}", raw.name))?;
    if probe.placeholders().count() != 1 {
        return Err(format!("placeholder name {:?} is not valid", raw.name));
    }
    raw.kind.check(&raw.example).map_err(|e| format!("placeholder {}: example {e}", raw.name))?;
    Ok(Placeholder { name: raw.name, label: raw.label, kind: raw.kind, example: raw.example, source: raw.source })
}

fn sso(raw: raw::Sso) -> Result<Sso, String> {
    if raw.sp_signs_requests && raw.request_signature.as_deref() != Some("rsa-sha256") {
        return Err("an SP that signs requests needs request_signature = \"rsa-sha256\"".into());
    }
    if !raw.sp_signs_requests && raw.request_signature.is_some() {
        return Err("request_signature is only for SPs that sign requests".into());
    }
    let attributes = raw
        .attributes
        .into_iter()
        .map(|a| {
            let source = match (a.property, a.constant, a.groups) {
                (Some(p), None, false) => AttributeSource::Property(property(&p)?),
                (None, Some(c), false) => AttributeSource::Constant(c),
                (None, None, true) => AttributeSource::Groups,
                _ => return Err(format!("attribute {} needs exactly one of property, constant, groups", a.name)),
            };
            if a.source.trim().is_empty() {
                return Err(format!("attribute {} must say where its name comes from (source)", a.name));
            }
            Ok(AttributeMapping { is_jit: a.jit, is_enabled: a.enabled, ..AttributeMapping::new(&a.name, source) })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Sso {
        sp_entity_id: Template::parse(&raw.sp_entity_id)?,
        acs_urls: raw.acs_urls.iter().map(|u| Template::parse(u)).collect::<Result<_, _>>()?,
        login_url: raw.login_url.as_deref().map(Template::parse).transpose()?,
        signing: SigningMode::parse(&raw.signing).ok_or_else(|| format!("signing {:?} is unknown", raw.signing))?,
        sp_signs_requests: raw.sp_signs_requests,
        name_id_format: NameIdFormat::parse(&raw.nameid_format)
            .ok_or_else(|| format!("nameid_format {:?} is unknown", raw.nameid_format))?,
        name_id_source: property(&raw.nameid_source)?,
        attributes,
        source: raw.source,
    })
}

fn scim_attribute(raw: raw::ScimAttribute) -> Result<ScimAttribute, String> {
    let from = raw
        .property
        .as_deref()
        .map(|p| ScimSource::parse(p).ok_or_else(|| format!("SCIM source {p:?} is unknown")))
        .transpose()?;
    Ok(ScimAttribute {
        row: raw.row,
        path: raw.scim,
        from,
        is_required: raw.required,
        allowed_values: raw.allowed_values,
        unavailable: raw.unavailable,
    })
}

fn property(name: &str) -> Result<UserProperty, String> {
    UserProperty::parse(name).ok_or_else(|| format!("user property {name:?} is unknown"))
}

/// The file format, as written (`deny_unknown_fields`: a typo in a catalog file fails its test).
mod raw {
    use crate::catalog::template::PlaceholderKind;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Connector {
        pub id: String,
        pub name: String,
        #[serde(default)]
        pub description: String,
        #[serde(default)]
        pub placeholders: Vec<Placeholder>,
        pub sso: Sso,
        pub scim: Scim,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Placeholder {
        pub name: String,
        pub label: String,
        pub kind: PlaceholderKind,
        pub example: String,
        pub source: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Sso {
        pub sp_entity_id: String,
        pub acs_urls: Vec<String>,
        pub login_url: Option<String>,
        pub signing: String,
        pub sp_signs_requests: bool,
        pub request_signature: Option<String>,
        pub nameid_format: String,
        pub nameid_source: String,
        pub source: String,
        #[serde(default)]
        pub attributes: Vec<Attribute>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Attribute {
        pub name: String,
        pub property: Option<String>,
        pub constant: Option<String>,
        #[serde(default)]
        pub groups: bool,
        #[serde(default)]
        pub jit: bool,
        #[serde(default = "yes")]
        pub enabled: bool,
        pub source: String,
    }

    fn yes() -> bool {
        true
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Scim {
        pub base_url: Option<String>,
        pub base_url_example: Option<String>,
        pub sso_required: Option<bool>,
        #[serde(default)]
        pub reconcile_interval_mins: Option<u64>,
        pub groups_supported: bool,
        pub soft_delete: bool,
        pub source: String,
        #[serde(default)]
        pub placeholders: Vec<Placeholder>,
        #[serde(default)]
        pub same_source: Vec<SameSource>,
        #[serde(default)]
        pub user: Vec<ScimAttribute>,
        #[serde(default)]
        pub group: Vec<ScimAttribute>,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SameSource {
        pub attributes: Vec<String>,
        pub property: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScimAttribute {
        pub row: Vec<String>,
        pub scim: String,
        pub property: Option<String>,
        #[serde(default)]
        pub required: bool,
        #[serde(default)]
        pub allowed_values: Vec<String>,
        pub unavailable: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_embedded_connector_loads() {
        let catalog = Catalog::embedded().unwrap();
        let ids: Vec<&str> = catalog.connectors().iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["hoxhunt", "interact", "netskope", "onetrust", "zscaler"]);
    }

    #[test]
    fn every_connector_fills_with_its_examples_into_valid_settings() {
        for connector in Catalog::embedded().unwrap().connectors() {
            let examples: Vec<(String, String)> =
                connector.placeholders.iter().map(|p| (p.name.clone(), p.example.clone())).collect();
            let filled = connector.fill(&BTreeMap::new(), &examples).unwrap();
            let sp = connector.sp_settings(&filled).unwrap();
            let urls = std::iter::once(&sp.entity_id).chain(sp.acs.iter().map(|a| &a.url)).chain([&sp.sp_login_url]);
            for url in urls {
                assert!(!url.contains('{') && !url.contains('}'), "{}: {url}", connector.id);
            }
            assert_eq!(sp.require_signed_requests, connector.sso.sp_signs_requests);
        }
    }

    #[test]
    fn reports_every_unfilled_placeholder_and_never_renders_one() {
        let catalog = Catalog::embedded().unwrap();
        let netskope = catalog.get("netskope").unwrap();
        let err = netskope.fill(&BTreeMap::new(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connector netskope needs a value for APPLICATION_INSTANCE_URL, NETSKOPE_PROXY_ACS_URL"
        );
        let half = given(&[("APPLICATION_INSTANCE_URL", "https://acme.goskope.com")]);
        assert!(
            matches!(netskope.fill(&BTreeMap::new(), &half), Err(Error::Unfilled { names, .. }) if names == ["NETSKOPE_PROXY_ACS_URL"])
        );
        // Even a Filled built by hand without a value cannot render: the template refuses.
        let forged = Filled { connector: "netskope".into(), values: BTreeMap::new() };
        assert!(matches!(netskope.sp_settings(&forged), Err(Error::Unfilled { .. })));
    }

    #[test]
    fn refuses_unknown_placeholders_and_invalid_values() {
        let catalog = Catalog::embedded().unwrap();
        let onetrust = catalog.get("onetrust").unwrap();
        let err = onetrust.fill(&BTreeMap::new(), &given(&[("SUBDOMAIN", "acme")])).unwrap_err();
        assert!(matches!(err, Error::UnknownPlaceholder { .. }), "{err}");
        // A subdomain that tries to move the ACS to another host is not a subdomain.
        for bad in ["evil.com/x", "acme.evil.com", "a@b", "acme#"] {
            let err = onetrust.fill(&BTreeMap::new(), &given(&[("YOUR_SUBDOMAIN", bad)])).unwrap_err();
            assert!(matches!(err, Error::InvalidValue { .. }), "{bad}: {err}");
        }
        let zscaler = catalog.get("zscaler").unwrap();
        let err = zscaler.fill(&BTreeMap::new(), &given(&[("ZSCALER_CLOUD_NAME", "zscaler")])).unwrap_err();
        assert!(err.to_string().contains("host name"), "{err}");
        let netskope = catalog.get("netskope").unwrap();
        let http = given(&[("APPLICATION_INSTANCE_URL", "http://acme.goskope.com"), ("NETSKOPE_PROXY_ACS_URL", "x")]);
        assert!(
            matches!(netskope.fill(&BTreeMap::new(), &http), Err(Error::InvalidValue { name, .. }) if name == "APPLICATION_INSTANCE_URL")
        );
    }

    #[test]
    fn an_update_keeps_earlier_values_and_takes_new_ones() {
        let catalog = Catalog::embedded().unwrap();
        let onetrust = catalog.get("onetrust").unwrap();
        let first = onetrust.fill(&BTreeMap::new(), &given(&[("YOUR_SUBDOMAIN", "Acme")])).unwrap();
        assert_eq!(first.values().get("YOUR_SUBDOMAIN").map(String::as_str), Some("acme"));
        let again = onetrust.fill(first.values(), &[]).unwrap();
        assert_eq!(again, first);
        let moved = onetrust.fill(first.values(), &given(&[("YOUR_SUBDOMAIN", "acme2")])).unwrap();
        let sp = onetrust.sp_settings(&moved).unwrap();
        assert_eq!(sp.acs.first().map(|a| a.url.as_str()), Some("https://acme2.onetrust.com/auth/consumerservice"));
    }

    #[test]
    fn searches_by_id_name_and_description() {
        let catalog = Catalog::embedded().unwrap();
        let ids = |q: &str| catalog.search(q).iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids("").len(), 5);
        assert_eq!(ids("ZSCALER"), ["zscaler"]);
        assert_eq!(ids("interact software"), ["interact"]);
        assert_eq!(ids("phishing"), ["hoxhunt"]);
        assert!(ids("nothing like this").is_empty());
    }

    fn entry(sso_extra: &str) -> String {
        format!(
            r#"id = "x"
name = "X"
[[placeholders]]
name = "HOST"
label = "h"
kind = "host"
example = "a.example.com"
source = "test"
[sso]
sp_entity_id = "https://{{HOST}}/sp"
acs_urls = ["https://{{HOST}}/acs"]
signing = "assertion"
sp_signs_requests = false
nameid_format = "email"
nameid_source = "email"
source = "test"
{sso_extra}
[scim]
groups_supported = true
soft_delete = false
source = "test"
"#
        )
    }

    #[test]
    fn refuses_entries_that_could_send_an_unfilled_or_unsafe_url() {
        assert!(Catalog::parse(&[("x", &entry(""))]).is_ok());
        let cases = [
            ("login_url = \"https://{OTHER}/\"", "undeclared"),
            ("typo = 1", "unknown field"),
            ("[[sso.attributes]]\nname = \"a\"\nproperty = \"email\"", "missing field `source`"),
            ("[[sso.attributes]]\nname = \"a\"\nproperty = \"nope\"\nsource = \"s\"", "unknown"),
        ];
        for (extra, expected) in cases {
            let err = Catalog::parse(&[("x", &entry(extra))]).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let url_inside =
            entry("").replace("kind = \"host\"", "kind = \"url\"").replace("a.example.com", "https://a.example.com");
        let err = Catalog::parse(&[("x", &url_inside)]).unwrap_err().to_string();
        assert!(err.contains("inside other text"), "{err}");
        let unused = entry("")
            .replace("https://{HOST}/sp", "https://fixed/sp")
            .replace("https://{HOST}/acs", "https://fixed/acs");
        assert!(Catalog::parse(&[("x", &unused)]).unwrap_err().to_string().contains("no SSO template uses it"));
        assert!(Catalog::parse(&[("y", &entry(""))]).unwrap_err().to_string().contains("its id is"));
    }
}
