-- Administrators (separate from portal users), API tokens, and the sign-in failure counters that replicas share.
-- Booleans are INTEGER 0/1 and times are Unix milliseconds, the same as in the PostgreSQL schema.

CREATE TABLE admins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    -- argon2id, PHC string format.
    password_hash TEXT NOT NULL,
    -- The TOTP secret, AES-256-GCM sealed with the configured secret key; NULL while TOTP is off.
    totp_secret_enc TEXT,
    -- The last accepted TOTP time step (Unix time / 30): a code is accepted once.
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Bearer tokens for /api/v1. Only the SHA-256 of a token is stored; the token is shown once at creation.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Failed sign-ins per (kind, subject) in a fixed window: kind is user, user_ip, admin or admin_ip; subject is a
-- username or a client address. Shared by every replica, so throttling holds behind a load balancer.
CREATE TABLE login_failures (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX login_failures_window ON login_failures (window_start);
