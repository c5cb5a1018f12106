//! The may-use rule: users are denied every application unless a group bound to it contains them.

use crate::directory::{Application, GroupId, User};

/// Why a user may not use an application.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the account is suspended")]
    Suspended,
    #[error("single sign-on is switched off for this application")]
    AppInactive,
    #[error("no group bound to this application contains the user")]
    NotInBoundGroup,
}

/// Decides whether `user`, a member of `user_groups`, may use `app`, which is bound to `bound_groups`.
pub fn may_use(
    user: &User,
    user_groups: &[GroupId],
    app: &Application,
    bound_groups: &[GroupId],
) -> Result<(), Denied> {
    if !user.is_active() {
        return Err(Denied::Suspended);
    }
    if !app.is_active {
        return Err(Denied::AppInactive);
    }
    if !user_groups.iter().any(|g| bound_groups.contains(g)) {
        return Err(Denied::NotInBoundGroup);
    }
    Ok(())
}
