-- Second factors of directory users (issue 14): TOTP, recovery codes and the MFA policy. Booleans are INTEGER 0/1
-- and times Unix milliseconds, as in the PostgreSQL schema.

-- A user's TOTP authenticator (at most one): the secret sealed with the configured secret key (AES-256-GCM), and
-- the last accepted time step (Unix time / 30), so that each code is accepted once.
CREATE TABLE user_totp (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

-- Single-use recovery codes: only the SHA-256 of each (high-entropy) code is stored; used_at is set once.
CREATE TABLE user_recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    UNIQUE (user_id, code_hash)
);

-- 1 after an administrator's reset: the user enrols a factor at the next sign-in, whatever the policy says.
ALTER TABLE users ADD COLUMN mfa_enrol_required BIGINT NOT NULL DEFAULT 0;

-- Members of a group with require_mfa = 1 must sign in with a second factor.
ALTER TABLE user_groups ADD COLUMN require_mfa BIGINT NOT NULL DEFAULT 0;

-- The global MFA policy: one row, id 1.
CREATE TABLE mfa_policy (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    require_all BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL DEFAULT 0
);
INSERT INTO mfa_policy (id, require_all, updated_at) VALUES (1, 0, 0);
