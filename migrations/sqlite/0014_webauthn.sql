-- WebAuthn (issue 14): passkeys and security keys of users, and of administrators for the console.
-- Times are Unix milliseconds, as everywhere.

-- A registered credential, owned by exactly one user or one administrator. `credential_id` is the authenticator's
-- credential ID (base64url), unique across every owner; `user_handle` is the UUID the authenticator keeps for a
-- discoverable credential (one per owner); `credential` is webauthn-rs's serialised credential (the public key
-- and the signature counter), JSON; `is_discoverable` tells a passkey (signs in alone) from a security key (a
-- second factor after the password).
CREATE TABLE webauthn_credentials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    admin_id BIGINT REFERENCES admins (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    user_handle TEXT NOT NULL,
    name TEXT NOT NULL,
    is_discoverable BIGINT NOT NULL,
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    CHECK ((user_id IS NULL) <> (admin_id IS NULL))
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
CREATE INDEX webauthn_credentials_admin ON webauthn_credentials (admin_id);

-- A ceremony in progress: webauthn-rs's state (with the challenge), for the replica that finishes it. Single use:
-- finishing deletes the row; it expires after a few minutes, and housekeeping removes what nobody finished.
CREATE TABLE webauthn_challenges (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    admin_id BIGINT REFERENCES admins (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
