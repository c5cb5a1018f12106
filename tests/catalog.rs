//! The connector catalog against its seed articles: each connector's SCIM mapping sends exactly the attributes the
//! article's table lists (less the rows the directory cannot provide, named here), the attribute considerations
//! hold, and applications created from connectors behave as the articles say (placeholders, signed requests, JIT
//! sets). pysaml2 checks full SSO logins into each connector in tests/peers/test_catalog.py.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use chrono::Utc;
use common::*;
use sesame::audit::Actor;
use sesame::catalog::scim::{map_group, map_user};
use sesame::catalog::Catalog;
use sesame::directory::attributes::AttributeChange;
use sesame::directory::user::Profile;
use sesame::directory::{AttributeSource, User, UserId, UserStatus};
use sesame::mapping::{attribute_paths, values_by_path, ENTERPRISE_SCHEMA};
use sesame::saml::keys::SigningKey;
use sesame::services::apps::create::{apply_connector, CreateFromConnector};
use sesame::services::Error;
use sesame::services::{groups, users};
use sesame::store::apps;

/// A user with every directory property set.
fn sample_user() -> User {
    User {
        id: UserId(7),
        username: "ada.lovelace".into(),
        profile: Profile {
            email: "ada@example.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            display_name: "Ada Lovelace".into(),
            department: "Engineering".into(),
            job_title: "Analyst".into(),
            employee_type: "internal".into(),
            company: "Analytical Engines Ltd".into(),
            employee_id: "E-1815".into(),
            locale: "en-GB".into(),
            phone: "+44 20 7946 0000".into(),
            work_address: "12 St James's Square, London".into(),
            preferred_language: "en-GB".into(),
            work_street: "12 St James's Square".into(),
            work_locality: "London".into(),
            work_region: "Greater London".into(),
            work_postal_code: "SW1Y 4LE".into(),
            work_country: "GB".into(),
        },
        status: UserStatus::Active,
    }
}

/// The attribute table of each seed article, row by row as printed (property, UI field, SCIM v2 mapping, SP value).
const TABLES: [(&str, &[[&str; 4]]); 5] = [
    (
        "onetrust",
        &[
            ["username", "Username", "userName", "userName"],
            ["email", "Company Email", "emails:value", "emails"],
            ["active", "Status", "active", "active"],
            ["firstname", "First Name", "name.givenName", "First Name"],
            ["lastname", "Last Name", "name.familyName", "Last Name"],
            ["displayName", "Display Name", "displayName", "displayName"],
            ["department", "Department", "department", "Department"],
            ["jobTitle", "Job Title", "title", "Job title"],
            ["employeeType", "employeeType", "userType", "userType"],
            ["company", "Company", "organization", "Organization"],
            ["employeeIdentifier", "Employee ID", "externalID", "externalID"],
        ],
    ),
    (
        "interact",
        &[
            ["username", "Username", "userName", "userName"],
            ["active", "Status", "active", "active"],
            ["employeeType", "employeeType", "userType", "userType"],
            ["", "Company Email", "emails:value", "emails"],
            ["employeeIdentifier", "Employee ID", "externalId", "externalId"],
            ["firstname", "First Name", "name.givenName", "name.givenName"],
            ["lastname", "Last Name", "name.familyName", "name.familyName"],
            ["jobTitle", "Job Title", "jobTitle", "title"],
            ["preferredLanguage", "preferredLanguage", "preferredLanguage", "preferredLanguage"],
            ["locale", "Locale", "locale", "Locale"],
            ["phoneNumbers.value", "Work Phone", "phoneNumbers.value", "phoneNumbers.value"],
            ["department", "Department", "department", "department"],
            ["company", "Company", "organization", "organization"],
            ["location", "location", "location", "location"],
            ["password", "password", "password", "password"],
            ["addresses.streetAddress", "Work Street Address", "addresses.streetAddress", "addresses.streetAddress"],
            ["addresses.locality", "Work City", "addresses.locality", "addresses.formatted"],
            ["addresses.region", "Work State", "addresses.region", "addresses.region"],
        ],
    ),
    (
        "netskope",
        &[
            ["username", "Username", "userName", "userName"],
            ["firstname", "First Name", "name.givenName", "First Name"],
            ["lastname", "Last Name", "name.familyName", "Last Name"],
            ["", "Company Email", "emails: value", "Email ID"],
            ["active", "Status", "active", "active"],
            ["displayName", "Display Name", "displayName", "displayName"],
            ["employeeIdentifier", "Employee ID", "externalId", "externalId"],
        ],
    ),
    (
        "hoxhunt",
        &[
            ["username", "Username", "userName", "userName"],
            ["active", "Status", "active", "active"],
            ["firstname", "First Name", "name.givenName", "name.givenName"],
            ["lastname", "Last Name", "name.familyName", "name.familyName"],
            ["preferredLanguage", "preferredLanguage", "preferredLanguage", "preferredLanguage"],
            ["department", "Department", "department", "department"],
            ["", "Company Email", "emails: value", "emails"],
            ["addresses.country", "Work Country", "addresses.country", "addresses.country"],
            ["addresses.locality", "Work City", "addresses.locality", "addresses.locality"],
            ["employeeIdentifier", "Employee ID", "externalId", "externalId"],
        ],
    ),
    (
        "zscaler",
        &[
            ["username", "Username", "userName", "User ID (login_name)"],
            ["firstname", "First Name", "name.givenName", "firstname"],
            ["lastname", "Last Name", "name.familyName", "lastname"],
            ["displayname", "Display Name", "displayName", "User display Name(user_name)"],
            ["active", "Status", "active", "active"],
            ["", "Company Email", "emails:value", "scim_emails"],
            ["employeeIdentifier", "Employee ID", "externalId", "scim_externalid"],
            ["department", "Department", "department", "Department"],
        ],
    ),
];

/// The SCIM v2 mapping column as a path in RFC 7644 notation: work email and phone, addresses of type work,
/// and the enterprise extension for the attributes RFC 7643 §4.3 defines there.
fn scim_path(column: &str) -> String {
    let column = column.replace(' ', "");
    let work = |attribute: &str, sub: &str| format!("{attribute}[type eq \"work\"].{sub}");
    match column.as_str() {
        "emails:value" => work("emails", "value"),
        "phoneNumbers.value" => work("phoneNumbers", "value"),
        "externalID" => "externalId".into(),
        "jobTitle" => "title".into(),
        "department" | "organization" => format!("{ENTERPRISE_SCHEMA}:{column}"),
        c if c.starts_with("addresses.") => work("addresses", c.trim_start_matches("addresses.")),
        c => c.to_owned(),
    }
}

/// Rows the directory cannot provide, per connector: it has no location property and never sends passwords.
/// (The preferred language and the work address's street, locality, region and country are profile properties.)
fn unavailable(id: &str) -> BTreeSet<String> {
    let rows: &[&str] = match id {
        "interact" => &["location", "password"],
        _ => &[],
    };
    rows.iter().map(|c| scim_path(c)).collect()
}

#[test]
fn each_connector_holds_its_seed_table_row_for_row() {
    let catalog = Catalog::embedded().unwrap();
    for (id, table) in TABLES {
        let connector = catalog.get(id).unwrap();
        let rows: Vec<Vec<&str>> =
            connector.scim.user.iter().map(|a| a.row.iter().map(String::as_str).collect()).collect();
        let expected: Vec<Vec<&str>> = table.iter().map(|r| r.to_vec()).collect();
        assert_eq!(rows, expected, "{id}");
        let paths: Vec<String> = connector.scim.user.iter().map(|a| a.path.clone()).collect();
        let from_table: Vec<String> = table.iter().map(|r| scim_path(r[2])).collect();
        assert_eq!(paths, from_table, "{id}: the SCIM path follows the table's SCIM v2 column");
    }
}

#[test]
fn each_scim_mapping_sends_exactly_the_table_for_a_user_with_every_property() {
    let catalog = Catalog::embedded().unwrap();
    let user = sample_user();
    for (id, table) in TABLES {
        let connector = catalog.get(id).unwrap();
        let mapped = map_user(&connector.scim, &user);
        let sent = attribute_paths(&mapped.resource);
        let missing = unavailable(id);
        let expected: BTreeSet<String> =
            table.iter().map(|r| scim_path(r[2])).filter(|p| !missing.contains(p)).collect();
        assert_eq!(sent, expected, "{id}: {}", mapped.resource);
        let skipped: BTreeSet<String> = mapped.skipped.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(skipped, missing, "{id}: only rows the directory cannot provide are left out");
        let schemas = mapped.resource["schemas"].as_array().unwrap();
        assert_eq!(
            schemas.iter().any(|s| s == ENTERPRISE_SCHEMA),
            sent.iter().any(|p| p.starts_with(ENTERPRISE_SCHEMA))
        );
        // Every row marked required is sent.
        for attribute in connector.scim.user.iter().filter(|a| a.is_required) {
            assert!(sent.contains(&attribute.path), "{id}: required {}", attribute.path);
        }
    }
}

#[test]
fn scim_values_follow_the_attribute_considerations() {
    let catalog = Catalog::embedded().unwrap();
    let user = sample_user();
    let work_email = "emails[type eq \"work\"].value";
    // OneTrust and Hoxhunt: userName and the work email come from one source, the email address.
    for id in ["onetrust", "hoxhunt"] {
        let values = values_by_path(&map_user(&catalog.get(id).unwrap().scim, &user).resource);
        assert_eq!(values["userName"], "ada@example.com", "{id}");
        assert_eq!(values[work_email], values["userName"], "{id}");
    }
    // Elsewhere userName is the username, as the tables say.
    let netskope = values_by_path(&map_user(&catalog.get("netskope").unwrap().scim, &user).resource);
    assert_eq!(netskope["userName"], "ada.lovelace");
    assert_eq!(netskope["active"], true);

    // OneTrust's userType is Internal or External, spelled as OneTrust expects; anything else is not sent.
    let onetrust = &catalog.get("onetrust").unwrap().scim;
    assert_eq!(values_by_path(&map_user(onetrust, &user).resource)["userType"], "Internal");
    let mut contractor = sample_user();
    contractor.profile.employee_type = "Contractor".into();
    let mapped = map_user(onetrust, &contractor);
    assert!(!attribute_paths(&mapped.resource).contains("userType"));
    assert!(mapped.skipped.iter().any(|(p, why)| p == "userType" && why.contains("Internal, External")));

    // A suspended user is sent as inactive; empty properties are left out rather than sent empty.
    let mut suspended = sample_user();
    suspended.status = UserStatus::Suspended;
    suspended.profile.department = String::new();
    let zscaler = &catalog.get("zscaler").unwrap().scim;
    let values = values_by_path(&map_user(zscaler, &suspended).resource);
    assert_eq!(values["active"], false);
    assert!(!values.contains_key(&format!("{ENTERPRISE_SCHEMA}:department")));
}

#[test]
fn group_mappings_and_scim_facts_follow_the_articles() {
    let catalog = Catalog::embedded().unwrap();
    let facts = |id: &str| {
        let s = &catalog.get(id).unwrap().scim;
        (s.groups_supported, s.soft_delete, s.sso_required)
    };
    assert_eq!(facts("onetrust"), (true, false, Some(true)));
    assert_eq!(facts("interact"), (true, false, Some(false)));
    assert_eq!(facts("netskope"), (true, false, None), "the Netskope article does not say");
    assert_eq!(facts("hoxhunt"), (false, true, Some(false)));
    assert_eq!(facts("zscaler"), (true, false, Some(true)));
    for connector in catalog.connectors() {
        let group = map_group(&connector.scim, "Finance");
        if connector.scim.groups_supported {
            let rows: Vec<Vec<&str>> =
                connector.scim.group.iter().map(|a| a.row.iter().map(String::as_str).collect()).collect();
            assert_eq!(rows, [["name", "Name", "displayName", "Name"]], "{}", connector.id);
            assert_eq!(attribute_paths(&group), BTreeSet::from(["displayName".to_owned()]));
            assert_eq!(group["displayName"], "Finance");
        } else {
            assert!(connector.scim.group.is_empty());
            assert!(attribute_paths(&group).is_empty());
        }
    }
    let base = |id: &str| catalog.get(id).unwrap().scim.base_url.as_ref().map(|t| t.as_str().to_owned());
    assert_eq!(base("onetrust").as_deref(), Some("https://{YOUR_SUBDOMAIN}.onetrust.com/api/scim/v3"));
    assert_eq!(base("interact").as_deref(), Some("https://{YOUR_SUBDOMAIN}/api/v2/scim/v2"));
    assert_eq!(base("netskope").as_deref(), Some("https://{SUBDOMAIN}.goskope.com/SCIM/V2/{TENANT_ID}"));
    assert_eq!(base("zscaler").as_deref(), Some("https://scim.{ZSCALER_CLOUD_NAME}/{ORGANIZATION_ID}/{IDP_ID}/scim"));
    assert_eq!(base("hoxhunt"), None, "Hoxhunt's endpoint is pasted from its admin portal");
}

fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn create(
    app: &TestApp,
    name: &str,
    connector: &str,
    values: &[(&str, &str)],
    cert: Option<&str>,
) -> Result<sesame::services::apps::create::Created, Error> {
    let values = set(values);
    let request =
        CreateFromConnector { name, connector, values: &values, sp_certificate_pem: cert, display_label: None };
    apply_connector(&app.ctx, &Actor::Cli, &request, Utc::now()).await
}

/// An SP-initiated redirect login of a signed-in user, answered at once; returns the page.
async fn sso(app: &TestApp, name: &str, req: &Req, key: Option<&SigningKey>, cookie: &str) -> Reply {
    app.get(&format!("/saml2/{name}?{}", redirect_query(&req.xml(None), None, key)), Some(cookie)).await
}

#[tokio::test]
async fn unfilled_placeholders_are_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let err = create(&app, "nk", "netskope", &[("APPLICATION_INSTANCE_URL", "https://acme.goskope.com")], None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "connector netskope needs a value for NETSKOPE_PROXY_ACS_URL");
    let mut conn = app.ctx.db.conn().await.unwrap();
    assert!(apps::find_app(&mut conn, "nk").await.unwrap().is_none(), "no application with unfilled values");
    drop(conn);
    let err = create(&app, "acme", "onetrust", &[("YOUR_SUBDOMAIN", "acme")], None).await.unwrap_err();
    assert!(matches!(err, Error::NotFromConnector { .. }), "an application from metadata is not overwritten: {err}");
}

/// An SP that signs its requests (Netskope, Zscaler): without its certificate the application exists but refuses
/// every SP-initiated request (no unverifiable request is answered); with it, signed requests are answered and
/// unsigned ones refused.
#[tokio::test]
async fn sp_signed_connectors_verify_requests_once_the_certificate_is_given() {
    let app = TestApp::new().await;
    let cloud = [("ZSCALER_CLOUD_NAME", "zscalertwo.net")];
    let created = create(&app, "zia", "zscaler", &cloud, None).await.unwrap();
    assert!(created.is_new && created.awaits_sp_certificate && created.app.sp.require_signed_requests);
    admin_bind(&app, "zia").await;
    let cookie = app.login("alice", PASSWORD).await;
    let req = || Req {
        issuer: "zscalertwo.net".into(),
        destination: Some(format!("{BASE}/saml2/zia")),
        acs_url: Some("https://login.zscalertwo.net/sfc_sso".into()),
        ..Req::default()
    };
    let sp_key = SigningKey::generate("zscaler sp", Utc::now(), 2).unwrap();
    let refused = sso(&app, "zia", &req(), Some(&sp_key), &cookie).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.saml_response().is_none());

    let pem = sp_key.cert.to_pem().unwrap();
    let updated = create(&app, "zia", "zscaler", &[], Some(&pem)).await.unwrap();
    assert!(!updated.is_new && !updated.awaits_sp_certificate);
    let answered = sso(&app, "zia", &req(), Some(&sp_key), &cookie).await;
    assert_eq!(answered.form_action().as_deref(), Some("https://login.zscalertwo.net/sfc_sso"), "{}", answered.body);
    let xml = answered.saml_response().expect("a response to the signed request");
    assert_eq!(attribute_values(&xml, "DisplayName"), ["Alice <b>&</b> Co"]);
    assert_eq!(attribute_values(&xml, "memberOf"), ["staff"]);
    let unsigned = sso(&app, "zia", &req(), None, &cookie).await;
    assert_eq!(unsigned.status, StatusCode::BAD_REQUEST, "unsigned requests stay refused");
}

#[tokio::test]
async fn jit_attributes_can_change_source_or_be_switched_off_but_keep_their_names() {
    let app = TestApp::new().await;
    create(&app, "hox", "hoxhunt", &[("YOUR_ORG_ID", "org42")], None).await.unwrap();
    admin_bind(&app, "hox").await;
    let now = Utc::now();
    let off = AttributeChange { is_enabled: Some(false), ..AttributeChange::default() };
    sesame::services::apps::change::change_attribute(&app.ctx, &Actor::Cli, "hox", "user.lastname", &off, now)
        .await
        .unwrap();
    let constant =
        AttributeChange { source: Some(AttributeSource::Constant("Security".into())), ..AttributeChange::default() };
    sesame::services::apps::change::change_attribute(&app.ctx, &Actor::Cli, "hox", "user.department", &constant, now)
        .await
        .unwrap();
    assert!(sesame::services::apps::change::change_attribute(&app.ctx, &Actor::Cli, "hox", "lastname", &off, now)
        .await
        .is_err());

    // Re-running create (a new org ID) keeps the admin's changes.
    create(&app, "hox", "hoxhunt", &[("YOUR_ORG_ID", "org43")], None).await.unwrap();
    let cookie = app.login("alice", PASSWORD).await;
    let acs = "https://app.hoxhunt.com/saml/consume/org43";
    let req = Req {
        issuer: acs.into(),
        destination: Some(format!("{BASE}/saml2/hox")),
        acs_url: Some(acs.into()),
        ..Req::default()
    };
    let page = sso(&app, "hox", &req, None, &cookie).await;
    let xml = page.saml_response().expect("a response");
    assert_eq!(attribute_values(&xml, "user.department"), ["Security"]);
    assert!(attribute_values(&xml, "user.lastname").is_empty(), "switched off");
    assert!(!xml.contains("user.lastname"));
}

/// A custom application defines its own JIT set in its settings file; a later settings file cannot drop it.
#[tokio::test]
async fn custom_apps_define_jit_sets_that_a_reimport_keeps() {
    let app = TestApp::with_app_settings("").await;
    app.import("acme", false, "[[attributes]]\nname = \"givenName\"\nproperty = \"first_name\"\njit = true\n").await;
    app.import("acme", false, "[[attributes]]\nname = \"mail\"\nproperty = \"email\"\n").await;
    let mut conn = app.ctx.db.conn().await.unwrap();
    let acme = apps::find_app(&mut conn, "acme").await.unwrap().unwrap();
    let names: Vec<(&str, bool)> = acme.sp.attributes.iter().map(|a| (a.name.as_str(), a.is_jit)).collect();
    assert_eq!(names, [("mail", false), ("givenName", true)]);
}

async fn admin_bind(app: &TestApp, name: &str) {
    sesame::services::apps::change::change_binding(&app.ctx, &Actor::Cli, name, "staff", true, Utc::now())
        .await
        .unwrap();
}

/// Each connector's SCIM mapping, sent by the provisioning module to a real SCIM server (scim2-server): for a user
/// with every property set, the server holds exactly the attributes of the seed article's table (less the rows the
/// directory cannot provide), the group where the SP supports groups and none where it does not, and a deleted user
/// is deleted, or only deactivated where the article says the SP soft-deletes.
#[tokio::test]
async fn each_connector_provisions_exactly_its_table_into_a_real_scim_server() {
    use common::scim::{ScimPeer, TOKEN};
    use sesame::services::idm;

    for (id, table) in TABLES {
        let scim = ScimPeer::start();
        let app = TestApp::new().await;
        let connector = app.ctx.catalog.get(id).unwrap().clone();
        let examples: Vec<(&str, &str)> =
            connector.placeholders.iter().map(|p| (p.name.as_str(), p.example.as_str())).collect();
        create(&app, "sp", id, &examples, None).await.unwrap();
        let now = Utc::now();
        let user = sample_user();
        users::create_user(&app.ctx, &Actor::Cli, &user.username, user.profile.clone(), None, now).await.unwrap();
        groups::create_group(&app.ctx, &Actor::Cli, "finance", now).await.unwrap();
        groups::change_member(&app.ctx, &Actor::Cli, "finance", &user.username, true, now).await.unwrap();
        sesame::services::apps::change::change_binding(&app.ctx, &Actor::Cli, "sp", "finance", true, now)
            .await
            .unwrap();

        let groups = connector.scim.groups_supported;
        if !groups {
            let with_groups = idm::Activation::new(scim.base_url(), secrecy::SecretString::from(TOKEN), true);
            let err = idm::activate(&app.ctx, &Actor::Cli, "sp", with_groups, now).await.unwrap_err();
            assert!(err.to_string().contains("does not support groups"), "{id}: {err}");
        }
        let activation = idm::Activation::new(scim.base_url(), secrecy::SecretString::from(TOKEN), groups);
        idm::activate(&app.ctx, &Actor::Cli, "sp", activation, now).await.unwrap();
        app.run_provisioning().await;

        let user_name = connector.scim.user_mapping().user_name(&user);
        let stored = scim.user(&user_name).await.unwrap_or_else(|| panic!("{id}: {user_name} was not provisioned"));
        // `groups` is the SP's read-only view of memberships (RFC 7643 §4.1.2), not something we send.
        let held: BTreeSet<String> = attribute_paths(&stored).into_iter().filter(|p| p != "groups").collect();
        let missing = unavailable(id);
        let expected: BTreeSet<String> =
            table.iter().map(|r| scim_path(r[2])).filter(|p| !missing.contains(p)).collect();
        assert_eq!(held, expected, "{id}: {stored}");
        // The preferred language and the work address's parts arrive with their values.
        let values = values_by_path(&stored);
        let work = |sub: &str| format!("addresses[type eq \"work\"].{sub}");
        let sent: &[(String, &str)] = match id {
            "interact" => &[
                ("preferredLanguage".into(), "en-GB"),
                (work("streetAddress"), "12 St James's Square"),
                (work("locality"), "London"),
                (work("region"), "Greater London"),
            ],
            "hoxhunt" => {
                &[("preferredLanguage".into(), "en-GB"), (work("locality"), "London"), (work("country"), "GB")]
            }
            _ => &[],
        };
        for (path, value) in sent {
            assert_eq!(values.get(path).and_then(|v| v.as_str()), Some(*value), "{id}: {path} in {stored}");
        }
        if groups {
            assert_eq!(scim.member_names("finance").await, vec![user_name.clone()], "{id}");
        } else {
            assert!(scim.all("Groups").await.is_empty(), "{id}: no groups for an SP without them");
        }

        users::delete_user(&app.ctx, &Actor::Cli, &user.username, Utc::now()).await.unwrap();
        app.run_provisioning().await;
        match scim.user(&user_name).await {
            Some(kept) if connector.scim.soft_delete => assert_eq!(kept["active"], false, "{id}: soft delete"),
            Some(kept) => panic!("{id}: a deleted user stays in the SP: {kept}"),
            None => assert!(!connector.scim.soft_delete, "{id}: the SP soft-deletes, but the account is gone"),
        }
    }
}

/// What the articles say about SCIM's prerequisites and rhythm: OneTrust and Zscaler need SSO for SCIM (so
/// activation is refused without it), Hoxhunt and Interact do not, Netskope's article does not say; Hoxhunt's
/// provisioning cycle is 40 minutes, which becomes its reconciliation interval.
#[test]
fn connectors_say_when_scim_needs_sso_and_how_often_it_runs() {
    let catalog = Catalog::embedded().unwrap();
    let scim = |id: &str| catalog.get(id).unwrap().scim.clone();
    let needs_sso: Vec<(&str, Option<bool>)> = ["onetrust", "zscaler", "hoxhunt", "interact", "netskope"]
        .into_iter()
        .map(|id| (id, scim(id).sso_required))
        .collect();
    assert_eq!(
        needs_sso,
        [
            ("onetrust", Some(true)),
            ("zscaler", Some(true)),
            ("hoxhunt", Some(false)),
            ("interact", Some(false)),
            ("netskope", None)
        ]
    );
    assert_eq!(scim("hoxhunt").reconcile_interval_secs, Some(2400));
    for id in ["onetrust", "zscaler", "interact", "netskope"] {
        assert_eq!(scim(id).reconcile_interval_secs, None, "{id}: the configured default");
    }
}
