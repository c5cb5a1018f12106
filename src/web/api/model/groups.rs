//! The bodies of `/api/v1/groups`: a group, a new group, a rename, a member, the list pages and filters.

use utoipa::{IntoParams, ToSchema};

use crate::directory::Group;

/// A group.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub description: String,
    /// The applications the group is bound to (on a single group; lists leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<String>>,
}

impl GroupView {
    pub fn of(group: Group, applications: Option<Vec<String>>) -> Self {
        Self { name: group.name, description: group.description, applications }
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
}

/// A group change: today, its name (SPs that manage the group follow).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: String,
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub username: String,
}

page_type!(GroupPage, GroupView, "A page of groups, ordered by name.");
page_type!(MemberPage, String, "A page of a group's members (usernames), ordered.");

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Groups whose name contains this (case-insensitive).
    pub q: Option<String>,
}
