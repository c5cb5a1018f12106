//! The may-use rule: users are denied every application unless a group bound to it contains them.

use crate::directory::{Application, User};

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

/// Decides whether `user` may use `app`. `bound_groups_of_user` are the groups that both contain the user and
/// are bound to the application.
pub fn may_use<G>(user: &User, app: &Application, bound_groups_of_user: &[G]) -> Result<(), Denied> {
    if !user.is_active() {
        return Err(Denied::Suspended);
    }
    if !app.is_active {
        return Err(Denied::AppInactive);
    }
    if bound_groups_of_user.is_empty() {
        return Err(Denied::NotInBoundGroup);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::application::SpSettings;
    use crate::directory::user::Profile;
    use crate::directory::{AppId, AppKind, AppName, UserId, UserStatus};

    fn fixtures() -> (User, Application) {
        let user =
            User { id: UserId(1), username: "u".into(), profile: Profile::default(), status: UserStatus::Active };
        let app = Application {
            id: AppId(1),
            name: AppName::parse("a").unwrap(),
            display_label: "A".into(),
            description: String::new(),
            show_in_portal: true,
            kind: AppKind::Saml,
            bookmark_url: None,
            is_active: true,
            sp: SpSettings::default(),
        };
        (user, app)
    }

    #[test]
    fn denies_unless_a_bound_group_contains_the_user() {
        let (mut user, mut app) = fixtures();
        assert_eq!(may_use::<&str>(&user, &app, &[]), Err(Denied::NotInBoundGroup));
        assert_eq!(may_use(&user, &app, &["staff"]), Ok(()));
        app.is_active = false;
        assert_eq!(may_use(&user, &app, &["staff"]), Err(Denied::AppInactive));
        user.status = UserStatus::Suspended;
        assert_eq!(may_use(&user, &app, &["staff"]), Err(Denied::Suspended));
    }
}
