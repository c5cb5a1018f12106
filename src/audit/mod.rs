//! The event log: who did what to which target, when, and whether it worked.
//!
//! Architecture Invariant: event names are the exact strings of DESIGN.md "Events" and live only in `EventName`;
//! every admin change, login, SSO response and provisioning attempt records one, in the same transaction as the
//! change it describes where there is one.
//!
//! Architecture Invariant: every text field of an `Event` passes through `bounded` in its builder (256 characters,
//! control characters escaped), so no input, however long or multi-line, grows a row or forges a log line.

use chrono::{DateTime, Utc};

/// Event names. The strings are a contract: filters, scripts and the seeds' "Directory Insights" use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventName {
    UserLogin,
    UserLoginFailed,
    UserLogout,
    SsoLogin,
    SsoDenied,
    SsoRequestRejected,
    AdminUserCreate,
    AdminUserUpdate,
    AdminUserSuspend,
    AdminUserDelete,
    AdminGroupCreate,
    AdminGroupDelete,
    AdminGroupAddMember,
    AdminGroupRemoveMember,
    AdminAppCreate,
    AdminAppUpdate,
    AdminAppBind,
    AdminAppUnbind,
    AdminAppRotateCert,
    AdminGroupRename,
    IdmIntegrationActivate,
    IdmIntegrationUpdate,
    IdmIntegrationReauth,
    IdmIntegrationDelete,
    UserCreateProvision,
    UserUpdateProvision,
    UserDeprovision,
    UserDeleteProvision,
    UserLookupProvision,
    GroupCreateProvision,
    GroupUpdateProvision,
    GroupDeleteProvision,
    UserImport,
    AdminAppStageCert,
    AdminAppActivateCert,
    AdminAppRetireCert,
    AdminAppExportKey,
    AdminAppImportKey,
    SecretKeyRotate,
    CertExpiryWarning,
    SpMetadataRefresh,
    SloRequestRejected,
    SloPropagate,
    AdminLogin,
    AdminLoginFailed,
    AdminLoginThrottled,
    AdminLogout,
    UserLoginThrottled,
    AdminAdminCreate,
    AdminTotpEnable,
    AdminApiTokenCreate,
    AdminApiTokenRevoke,
    AdminAppDelete,
    AdminUserPassword,
    AdminUserInvite,
    UserInviteAccept,
    UserPasswordResetRequest,
    UserPasswordReset,
    AdminAdminPassword,
    AdminTotpDisable,
    AdminUserUnlock,
    MailSent,
    MailFailed,
    AdminAdminUpdate,
    UserMfaEnrol,
    UserMfaRemove,
    UserMfaReset,
    UserMfaSuccess,
    UserMfaFailed,
    UserMfaRecoveryUse,
    UserMfaRecoveryRegenerate,
    UserMfaStepUp,
    UserMfaThrottled,
    AdminMfaPolicy,
    UserPasswordChange,
    UserLogoutEverywhere,
}

impl EventName {
    pub const ALL: [Self; 76] = [
        Self::UserLogin,
        Self::UserLoginFailed,
        Self::UserLogout,
        Self::SsoLogin,
        Self::SsoDenied,
        Self::SsoRequestRejected,
        Self::AdminUserCreate,
        Self::AdminUserUpdate,
        Self::AdminUserSuspend,
        Self::AdminUserDelete,
        Self::AdminGroupCreate,
        Self::AdminGroupDelete,
        Self::AdminGroupAddMember,
        Self::AdminGroupRemoveMember,
        Self::AdminAppCreate,
        Self::AdminAppUpdate,
        Self::AdminAppBind,
        Self::AdminAppUnbind,
        Self::AdminAppRotateCert,
        Self::AdminGroupRename,
        Self::IdmIntegrationActivate,
        Self::IdmIntegrationUpdate,
        Self::IdmIntegrationReauth,
        Self::IdmIntegrationDelete,
        Self::UserCreateProvision,
        Self::UserUpdateProvision,
        Self::UserDeprovision,
        Self::UserDeleteProvision,
        Self::UserLookupProvision,
        Self::GroupCreateProvision,
        Self::GroupUpdateProvision,
        Self::GroupDeleteProvision,
        Self::UserImport,
        Self::AdminAppStageCert,
        Self::AdminAppActivateCert,
        Self::AdminAppRetireCert,
        Self::AdminAppExportKey,
        Self::AdminAppImportKey,
        Self::SecretKeyRotate,
        Self::CertExpiryWarning,
        Self::SpMetadataRefresh,
        Self::SloRequestRejected,
        Self::SloPropagate,
        Self::AdminLogin,
        Self::AdminLoginFailed,
        Self::AdminLoginThrottled,
        Self::AdminLogout,
        Self::UserLoginThrottled,
        Self::AdminAdminCreate,
        Self::AdminTotpEnable,
        Self::AdminApiTokenCreate,
        Self::AdminApiTokenRevoke,
        Self::AdminAppDelete,
        Self::AdminUserPassword,
        Self::AdminUserInvite,
        Self::UserInviteAccept,
        Self::UserPasswordResetRequest,
        Self::UserPasswordReset,
        Self::AdminAdminPassword,
        Self::AdminTotpDisable,
        Self::AdminUserUnlock,
        Self::MailSent,
        Self::MailFailed,
        Self::AdminAdminUpdate,
        Self::UserMfaEnrol,
        Self::UserMfaRemove,
        Self::UserMfaReset,
        Self::UserMfaSuccess,
        Self::UserMfaFailed,
        Self::UserMfaRecoveryUse,
        Self::UserMfaRecoveryRegenerate,
        Self::UserMfaStepUp,
        Self::UserMfaThrottled,
        Self::AdminMfaPolicy,
        Self::UserPasswordChange,
        Self::UserLogoutEverywhere,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserLogin => "user_login",
            Self::UserLoginFailed => "user_login_failed",
            Self::UserLogout => "user_logout",
            Self::SsoLogin => "sso_login",
            Self::SsoDenied => "sso_denied",
            Self::SsoRequestRejected => "sso_request_rejected",
            Self::AdminUserCreate => "admin_user_create",
            Self::AdminUserUpdate => "admin_user_update",
            Self::AdminUserSuspend => "admin_user_suspend",
            Self::AdminUserDelete => "admin_user_delete",
            Self::AdminGroupCreate => "admin_group_create",
            Self::AdminGroupDelete => "admin_group_delete",
            Self::AdminGroupAddMember => "admin_group_add_member",
            Self::AdminGroupRemoveMember => "admin_group_remove_member",
            Self::AdminAppCreate => "admin_app_create",
            Self::AdminAppUpdate => "admin_app_update",
            Self::AdminAppBind => "admin_app_bind",
            Self::AdminAppUnbind => "admin_app_unbind",
            Self::AdminAppRotateCert => "admin_app_rotate_cert",
            Self::AdminGroupRename => "admin_group_rename",
            Self::IdmIntegrationActivate => "idm_integration_activate",
            Self::IdmIntegrationUpdate => "idm_integration_update",
            Self::IdmIntegrationReauth => "idm_integration_reauth",
            Self::IdmIntegrationDelete => "idm_integration_delete",
            Self::UserCreateProvision => "user_create_provision",
            Self::UserUpdateProvision => "user_update_provision",
            Self::UserDeprovision => "user_deprovision",
            Self::UserDeleteProvision => "user_delete_provision",
            Self::UserLookupProvision => "user_lookup_provision",
            Self::GroupCreateProvision => "group_create_provision",
            Self::GroupUpdateProvision => "group_update_provision",
            Self::GroupDeleteProvision => "group_delete_provision",
            Self::UserImport => "admin_user_import",
            Self::AdminAppStageCert => "admin_app_stage_cert",
            Self::AdminAppActivateCert => "admin_app_activate_cert",
            Self::AdminAppRetireCert => "admin_app_retire_cert",
            Self::AdminAppExportKey => "admin_app_export_key",
            Self::AdminAppImportKey => "admin_app_import_key",
            Self::SecretKeyRotate => "secret_key_rotate",
            Self::CertExpiryWarning => "cert_expiry_warning",
            Self::SpMetadataRefresh => "sp_metadata_refresh",
            Self::SloRequestRejected => "slo_request_rejected",
            Self::SloPropagate => "slo_propagate",
            Self::AdminLogin => "admin_login",
            Self::AdminLoginFailed => "admin_login_failed",
            Self::AdminLoginThrottled => "admin_login_throttled",
            Self::AdminLogout => "admin_logout",
            Self::UserLoginThrottled => "user_login_throttled",
            Self::AdminAdminCreate => "admin_admin_create",
            Self::AdminTotpEnable => "admin_totp_enable",
            Self::AdminApiTokenCreate => "admin_api_token_create",
            Self::AdminApiTokenRevoke => "admin_api_token_revoke",
            Self::AdminAppDelete => "admin_app_delete",
            Self::AdminUserPassword => "admin_user_password",
            Self::AdminUserInvite => "admin_user_invite",
            Self::UserInviteAccept => "user_invite_accept",
            Self::UserPasswordResetRequest => "user_password_reset_request",
            Self::UserPasswordReset => "user_password_reset",
            Self::AdminAdminPassword => "admin_admin_password",
            Self::AdminTotpDisable => "admin_totp_disable",
            Self::AdminUserUnlock => "admin_user_unlock",
            Self::MailSent => "mail_sent",
            Self::MailFailed => "mail_failed",
            Self::AdminAdminUpdate => "admin_admin_update",
            Self::UserMfaEnrol => "user_mfa_enrol",
            Self::UserMfaRemove => "user_mfa_remove",
            Self::UserMfaReset => "user_mfa_reset",
            Self::UserMfaSuccess => "user_mfa_success",
            Self::UserMfaFailed => "user_mfa_failed",
            Self::UserMfaRecoveryUse => "user_mfa_recovery_use",
            Self::UserMfaRecoveryRegenerate => "user_mfa_recovery_regenerate",
            Self::UserMfaStepUp => "user_mfa_step_up",
            Self::UserMfaThrottled => "user_mfa_throttled",
            Self::AdminMfaPolicy => "admin_mfa_policy",
            Self::UserPasswordChange => "user_password_change",
            Self::UserLogoutEverywhere => "user_logout_everywhere",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == value)
    }
}

/// Who caused an event: a person signed in at the portal, an administrator (CLI or console), or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Admin(String),
    Cli,
    System,
    Anonymous,
    /// An API client, by the name of its token.
    ApiToken(String),
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Self::User(name) => format!("user:{name}"),
            Self::Admin(name) => format!("admin:{name}"),
            Self::Cli => "cli".into(),
            Self::System => "system".into(),
            Self::Anonymous => "anonymous".into(),
            Self::ApiToken(name) => format!("api_token:{name}"),
        }
    }

    /// The actor a `label` names (for work done later on someone's behalf, such as a background import).
    pub fn from_label(label: &str) -> Self {
        match label.split_once(':') {
            Some(("user", name)) => Self::User(name.to_owned()),
            Some(("admin", name)) => Self::Admin(name.to_owned()),
            _ => match label {
                "cli" => Self::Cli,
                "system" => Self::System,
                _ => Self::Anonymous,
            },
        }
    }
}

/// One row of the event log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub at: DateTime<Utc>,
    pub name: EventName,
    pub actor: String,
    pub target: String,
    pub app: String,
    pub username: String,
    pub success: bool,
    pub detail: String,
}

impl Event {
    /// An event; every text field is bounded (`bounded`) by the builders, whoever supplied it.
    pub fn new(at: DateTime<Utc>, name: EventName, actor: &Actor) -> Self {
        Self {
            id: None,
            at,
            name,
            actor: bounded(&actor.label()),
            target: String::new(),
            app: String::new(),
            username: String::new(),
            success: true,
            detail: String::new(),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = bounded(&target.into());
        self
    }

    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = bounded(&app.into());
        self
    }

    pub fn user(mut self, username: impl Into<String>) -> Self {
        self.username = bounded(&username.into());
        self
    }

    pub fn failed(mut self, detail: impl Into<String>) -> Self {
        self.success = false;
        self.detail = bounded(&detail.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = bounded(&detail.into());
        self
    }
}

/// The most characters a field of an event (or a value quoted in a log line) keeps.
pub const FIELD_MAX_CHARS: usize = 256;

/// `text` as an event field or in a log line: at most `FIELD_MAX_CHARS` characters, then `…`; control characters
/// (and the Unicode line separators and bidirectional overrides) escaped as `\n`, `\u{1b}`, …, so that no input
/// (an Issuer, a username, an SP's error text) can start a forged log line or make a row grow without bound.
pub fn bounded(text: &str) -> String {
    bounded_to(text, FIELD_MAX_CHARS)
}

/// `bounded` with another limit, for a text that quotes several fields (an error and its causes).
pub fn bounded_to(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(2)));
    for (n, c) in text.chars().enumerate() {
        if n >= max_chars {
            out.push('…');
            break;
        }
        if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Filters for listing events; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub name: Option<EventName>,
    pub app: Option<String>,
    pub username: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub success: Option<bool>,
    pub limit: u32,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events whose name starts with this (`admin_`, `sso_`, …): the event's type.
    pub name_prefix: Option<String>,
    /// Only events older than this `(at, id)` position (the last event of the previous page).
    pub before: Option<(DateTime<Utc>, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log forging and unbounded rows: an attacker's Issuer (up to 64 KiB per request, with newlines) went whole
    /// into the event detail and the log line. Fields are cut at 256 characters, marked with an ellipsis, and
    /// control characters are escaped so no input can begin a line of its own.
    #[test]
    fn event_fields_are_bounded_and_escaped() {
        let issuer = format!("evil\n2026-01-01T00:00:00Z INFO admin_login admin{}", "x".repeat(65_536));
        let event = Event::new(Utc::now(), EventName::SsoRequestRejected, &Actor::System)
            .target(issuer.clone())
            .app(issuer.clone())
            .user(issuer.clone())
            .failed(format!("issuer {issuer} is not the SP's entity ID"));
        for field in [&event.target, &event.app, &event.username, &event.detail] {
            assert!(!field.contains('\n'), "{field}");
            assert!(field.starts_with("evil\\n") || field.starts_with("issuer evil\\n"), "{field}");
            assert!(field.ends_with('…'));
            assert_eq!(field.chars().count(), FIELD_MAX_CHARS + 1 + 1, "256 characters, one escape, an ellipsis");
        }
        assert_eq!(bounded("short"), "short");
        assert_eq!(bounded(&"y".repeat(FIELD_MAX_CHARS)), "y".repeat(FIELD_MAX_CHARS));
        assert_eq!(bounded("a\r\u{1b}[31m\u{2028}\u{202e}b"), "a\\r\\u{1b}[31m\\u{2028}\\u{202e}b");
    }
}
