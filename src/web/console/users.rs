//! `/admin/users` and `/admin/groups`: the directory (create, edit, suspend, delete, passwords, memberships), and
//! granting access from either side: a group page binds the group to applications, a user page shows which groups
//! give access to which applications and adds the user to one. The user page lists the user's second factors (never
//! secrets) with a reset; the users page sets the MFA policy (everyone, chosen groups). The bindings are the applications' own
//! (`services::apps::change::change_binding`); who may use what is decided by `directory::access`, never here.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

use crate::directory::user::Profile;
use crate::directory::{User, UserStatus};
use crate::services::users::{self, UserFilter};
use crate::services::Error;
use crate::services::{apps, groups, links, mfa};
use crate::web::console::{encode, render, segment, Chrome, Console, Fields};
use crate::web::error::PageError;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/users/{username}", get(show_user).post(update_user))
        .route("/admin/users/{username}/status", post(change_status))
        .route("/admin/users/{username}/password", post(set_password))
        .route("/admin/users/{username}/delete", post(delete_user))
        .route("/admin/users/{username}/groups", post(change_user_group))
        .route("/admin/users/{username}/mfa/reset", post(reset_mfa))
        .route("/admin/users/{username}/invite", post(invite_user))
        .route("/admin/mfa/policy", post(set_mfa_policy))
        .route("/admin/groups", get(list_groups).post(create_group))
        .route("/admin/groups/{name}", get(show_group))
        .route("/admin/groups/{name}/rename", post(rename_group))
        .route("/admin/groups/{name}/delete", post(delete_group))
        .route("/admin/groups/{name}/members", post(change_member))
        .route("/admin/groups/{name}/apps", post(change_group_app))
}

const PAGE: u32 = 50;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    status: String,
    after: String,
}

/// The profile fields the forms edit, with their labels.
const PROFILE_FIELDS: [(&str, &str); 18] = [
    ("email", "Email"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("display_name", "Display name"),
    ("department", "Department"),
    ("job_title", "Job title"),
    ("employee_type", "Employee type"),
    ("company", "Company"),
    ("employee_id", "Employee ID"),
    ("locale", "Locale"),
    ("phone", "Phone"),
    ("work_address", "Work address (one line)"),
    ("preferred_language", "Preferred language (e.g. en-GB)"),
    ("work_street", "Work street address"),
    ("work_locality", "Work city"),
    ("work_region", "Work state or region"),
    ("work_postal_code", "Work postal code"),
    ("work_country", "Work country"),
];

pub struct ProfileField {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    q: ListQuery,
    users: Vec<User>,
    next: Option<String>,
    /// The MFA policy: everyone, and each group with whether its members must use MFA.
    mfa_everyone: bool,
    mfa_groups: Vec<(String, bool)>,
}

/// A second factor as the user page lists it (never a secret).
pub struct FactorRow {
    pub kind: &'static str,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    chrome: Chrome,
    user: User,
    path: String,
    fields: Vec<ProfileField>,
    groups: Vec<String>,
    other_groups: Vec<String>,
    /// The applications the user's groups are bound to, each with the groups that give access to it.
    access: Vec<Access>,
    /// Groups the user is not in that are bound to applications: joining one gives access to those.
    grants: Vec<Access>,
    factors: Vec<FactorRow>,
    mfa: mfa::Status,
    /// The newest invitation's state, when the user was ever invited.
    invitation: Option<String>,
}

/// One line of "who gives access to what": a name and the names it is paired with.
pub struct Access {
    pub name: String,
    pub through: String,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    chrome: Chrome,
    q: ListQuery,
    groups: Vec<crate::directory::Group>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    chrome: Chrome,
    name: String,
    path: String,
    members: Vec<String>,
    apps: Vec<String>,
    /// Applications the group is not bound to, offered by the bind form.
    other_apps: Vec<String>,
    more_members: bool,
}

async fn list_users(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let filter = UserFilter {
        text: Some(q.q.trim().to_owned()).filter(|t| !t.is_empty()),
        status: UserStatus::parse(&q.status),
    };
    let after = Some(q.after.as_str()).filter(|a| !a.is_empty());
    let page = users::list_users(&state.ctx, &filter, after, PAGE).await?;
    let next = page
        .next_after
        .map(|a| format!("/admin/users?q={}&status={}&after={}", encode(&q.q), encode(&q.status), encode(&a)));
    let policy = mfa::policy(&state.ctx).await?;
    let all = groups::list_groups(&state.ctx, None, None, crate::services::MAX_PAGE).await?;
    let mfa_groups = all.items.into_iter().map(|g| (g.name.clone(), policy.groups.contains(&g.name))).collect();
    render(&UsersPage {
        chrome: console.chrome("users"),
        q,
        users: page.items,
        next,
        mfa_everyone: policy.everyone,
        mfa_groups,
    })
}

fn profile_of(f: &Fields) -> Profile {
    Profile {
        email: f.get("email").to_owned(),
        first_name: f.get("first_name").to_owned(),
        last_name: f.get("last_name").to_owned(),
        display_name: f.get("display_name").to_owned(),
        department: f.get("department").to_owned(),
        job_title: f.get("job_title").to_owned(),
        employee_type: f.get("employee_type").to_owned(),
        company: f.get("company").to_owned(),
        employee_id: f.get("employee_id").to_owned(),
        locale: f.get("locale").to_owned(),
        phone: f.get("phone").to_owned(),
        work_address: f.get("work_address").to_owned(),
        preferred_language: f.get("preferred_language").to_owned(),
        work_street: f.get("work_street").to_owned(),
        work_locality: f.get("work_locality").to_owned(),
        work_region: f.get("work_region").to_owned(),
        work_postal_code: f.get("work_postal_code").to_owned(),
        work_country: f.get("work_country").to_owned(),
    }
}

async fn create_user(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let username = f.get("username").to_owned();
    let password = Some(f.raw("password").to_owned()).filter(|p| !p.is_empty());
    let result = users::create_user(&state.ctx, &console.actor(), &username, profile_of(&f), password, Utc::now())
        .await
        .map(|u| format!("User {} created.", u.username));
    match result {
        Ok(text) => console.done(Ok(text), &format!("/admin/users/{}", segment(&username))).await,
        Err(e) => console.done(Err(e), "/admin/users").await,
    }
}

async fn show_user(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
) -> Result<Response, PageError> {
    let (user, groups) = users::get_user(&state.ctx, &username).await?;
    let all = groups::list_groups(&state.ctx, None, None, crate::services::MAX_PAGE).await?;
    let other_groups: Vec<String> = all.items.into_iter().map(|g| g.name).filter(|g| !groups.contains(g)).collect();
    let bindings = groups::list_bindings(&state.ctx).await?;
    let (access, grants) = access_of(&bindings, &groups, &other_groups);
    let fields = profile_fields(&user.profile);
    let time =
        |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%d %H:%M UTC").to_string();
    let factors = mfa::list_factors(&state.ctx, &user.username)
        .await?
        .into_iter()
        .map(|f| FactorRow {
            kind: f.kind,
            name: f.name,
            created: time(f.created_at_ms),
            last_used: f.last_used_at_ms.map_or_else(|| "never".to_owned(), time),
        })
        .collect();
    let mfa = mfa::status(&state.ctx, user.id).await?;
    let invitation = links::invitation(&state.ctx, &user.username, Utc::now()).await?.map(|i| i.label());
    render(&UserPage {
        invitation,
        factors,
        mfa,
        chrome: console.chrome("users"),
        path: format!("/admin/users/{}", segment(&user.username)),
        user,
        fields,
        groups,
        other_groups,
        access,
        grants,
    })
}

/// From the bindings: the applications the user's `groups` give access to (each with those groups), and the
/// `other_groups` bound to applications (each with those applications).
fn access_of(bindings: &[(String, String)], groups: &[String], other_groups: &[String]) -> (Vec<Access>, Vec<Access>) {
    let mut by_app: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    let mut by_group: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (group, app) in bindings {
        if groups.contains(group) {
            by_app.entry(app).or_default().push(group);
        } else if other_groups.contains(group) {
            by_group.entry(group).or_default().push(app);
        }
    }
    let lines = |map: std::collections::BTreeMap<&str, Vec<&str>>| {
        map.into_iter().map(|(name, through)| Access { name: name.to_owned(), through: through.join(", ") }).collect()
    };
    (lines(by_app), lines(by_group))
}

/// The profile's fields as the user page's form shows them.
fn profile_fields(p: &Profile) -> Vec<ProfileField> {
    let values = [
        &p.email,
        &p.first_name,
        &p.last_name,
        &p.display_name,
        &p.department,
        &p.job_title,
        &p.employee_type,
        &p.company,
        &p.employee_id,
        &p.locale,
        &p.phone,
        &p.work_address,
        &p.preferred_language,
        &p.work_street,
        &p.work_locality,
        &p.work_region,
        &p.work_postal_code,
        &p.work_country,
    ];
    PROFILE_FIELDS
        .iter()
        .zip(values)
        .map(|((name, label), value)| ProfileField { name, label, value: value.clone() })
        .collect()
}

async fn reset_mfa(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = mfa::reset(&state.ctx, &console.actor(), &username, Utc::now())
        .await
        .map(|()| format!("The second factors of {username} are reset: enrolment at the next sign-in."));
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn invite_user(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    _f: Fields,
) -> Result<Response, PageError> {
    let result = links::invite(&state.ctx, &console.actor(), &username, Utc::now()).await.map(|expires| {
        format!("Invitation mailed to {username}; the link works until {}.", expires.format("%Y-%m-%d %H:%M UTC"))
    });
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn set_mfa_policy(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let policy = mfa::Policy { everyone: f.is_checked("mfa_everyone"), groups: f.all("mfa_group") };
    let result = mfa::replace_policy(&state.ctx, &console.actor(), &policy, Utc::now())
        .await
        .map(|()| "MFA policy saved.".to_owned());
    console.done(result, "/admin/users#mfa-policy").await
}

async fn update_user(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let result = users::update_user(&state.ctx, &console.actor(), &username, profile_of(&f), Utc::now())
        .await
        .map(|_| "Profile saved.".to_owned());
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn change_status(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let now = Utc::now();
    let result = match f.get("status") {
        "suspended" => users::suspend_user(&state.ctx, &console.actor(), &username, now)
            .await
            .map(|()| format!("{username} is suspended: sign-in and SSO are refused.")),
        "active" => users::activate_user(&state.ctx, &console.actor(), &username, now)
            .await
            .map(|()| format!("{username} is active again.")),
        _ => {
            return console.refuse("Choose active or suspended.", &format!("/admin/users/{}", segment(&username))).await
        }
    };
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn set_password(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let result = users::set_password(&state.ctx, &console.actor(), &username, f.raw("password").to_owned(), Utc::now())
        .await
        .map(|()| "Password set.".to_owned());
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn delete_user(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = format!("/admin/users/{}", segment(&username));
    if f.get("confirm") != username {
        return console.refuse("Type the username to confirm the deletion.", &back).await;
    }
    match users::delete_user(&state.ctx, &console.actor(), &username, Utc::now()).await {
        Ok(()) => console.done(Ok(format!("User {username} deleted.")), "/admin/users").await,
        Err(e) => console.done(Err(e), &back).await,
    }
}

async fn change_user_group(
    State(state): State<AppState>,
    console: Console,
    Path(username): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let group = f.get("group");
    let is_add = f.get("action") != "remove";
    let result = groups::change_member(&state.ctx, &console.actor(), group, &username, is_add, Utc::now())
        .await
        .map(|()| if is_add { format!("Added to {group}.") } else { format!("Removed from {group}.") });
    console.done(result, &format!("/admin/users/{}", segment(&username))).await
}

async fn list_groups(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let text = Some(q.q.trim()).filter(|t| !t.is_empty());
    let after = Some(q.after.as_str()).filter(|a| !a.is_empty());
    let page = groups::list_groups(&state.ctx, text, after, PAGE).await?;
    let next = page.next_after.map(|a| format!("/admin/groups?q={}&after={}", encode(&q.q), encode(&a)));
    render(&GroupsPage { chrome: console.chrome("groups"), q, groups: page.items, next })
}

async fn create_group(State(state): State<AppState>, console: Console, f: Fields) -> Result<Response, PageError> {
    let name = f.get("name").to_owned();
    match groups::create_group(&state.ctx, &console.actor(), &name, Utc::now()).await {
        Ok(g) => {
            console.done(Ok(format!("Group {} created.", g.name)), &format!("/admin/groups/{}", segment(&name))).await
        }
        Err(e) => console.done(Err(e), "/admin/groups").await,
    }
}

async fn show_group(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let (group, apps) = groups::get_group(&state.ctx, &name).await?;
    let members = groups::list_members(&state.ctx, &name, None, crate::services::MAX_PAGE).await?;
    let all_apps = apps::view::list_apps(&state.ctx, None, None, None, crate::services::MAX_PAGE).await?;
    let other_apps = all_apps.items.into_iter().map(|a| a.name.to_string()).filter(|a| !apps.contains(a)).collect();
    render(&GroupPage {
        chrome: console.chrome("groups"),
        path: format!("/admin/groups/{}", segment(&group.name)),
        name: group.name,
        more_members: members.next_after.is_some(),
        members: members.items,
        apps,
        other_apps,
    })
}

async fn rename_group(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let new_name = f.get("new_name").to_owned();
    match groups::rename_group(&state.ctx, &console.actor(), &name, &new_name, Utc::now()).await {
        Ok(()) => {
            console.done(Ok(format!("Renamed to {new_name}.")), &format!("/admin/groups/{}", segment(&new_name))).await
        }
        Err(e) => console.done(Err(e), &format!("/admin/groups/{}", segment(&name))).await,
    }
}

async fn delete_group(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let back = format!("/admin/groups/{}", segment(&name));
    if f.get("confirm") != name {
        return console.refuse("Type the group's name to confirm the deletion.", &back).await;
    }
    match groups::delete_group(&state.ctx, &console.actor(), &name, Utc::now()).await {
        Ok(()) => console.done(Ok(format!("Group {name} deleted.")), "/admin/groups").await,
        Err(e) => console.done(Err(e), &back).await,
    }
}

async fn change_member(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let username = f.get("username");
    let is_add = f.get("action") != "remove";
    let result: Result<String, Error> =
        groups::change_member(&state.ctx, &console.actor(), &name, username, is_add, Utc::now()).await.map(|()| {
            if is_add {
                format!("{username} added.")
            } else {
                format!("{username} removed.")
            }
        });
    console.done(result, &format!("/admin/groups/{}", segment(&name))).await
}

/// Binds the group to an application, or unbinds it: the same change as the application's User Groups tab.
async fn change_group_app(
    State(state): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    f: Fields,
) -> Result<Response, PageError> {
    let app = f.get("app");
    let is_bind = f.get("action") != "unbind";
    let result = apps::change::change_binding(&state.ctx, &console.actor(), app, &name, is_bind, Utc::now())
        .await
        .map(|()| if is_bind { format!("Bound to {app}.") } else { format!("Unbound from {app}.") });
    console.done(result, &format!("/admin/groups/{}", segment(&name))).await
}
