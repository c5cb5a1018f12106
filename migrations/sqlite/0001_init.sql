-- The directory, applications and their certificates, the SSO state shared by replicas, and the event log.
-- Booleans are INTEGER 0/1 and times are Unix milliseconds, the same as in the PostgreSQL schema.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    job_title TEXT NOT NULL DEFAULT '',
    employee_type TEXT NOT NULL DEFAULT '',
    company TEXT NOT NULL DEFAULT '',
    employee_id TEXT NOT NULL DEFAULT '',
    locale TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    work_address TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active',
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE user_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_label TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    show_in_portal BIGINT NOT NULL DEFAULT 1,
    kind TEXT NOT NULL,
    bookmark_url TEXT,
    is_active BIGINT NOT NULL DEFAULT 1,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE app_groups (
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, group_id)
);
CREATE INDEX app_groups_group ON app_groups (group_id);

-- Signing certificates. The private key of each is a file named by its fingerprint under the certs directory.
CREATE TABLE app_certs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL UNIQUE,
    cert_pem TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_certs_app ON app_certs (app_id, state);

-- AuthnRequest IDs already answered, kept for the freshness window (SAML Profiles §4.1.4.5).
CREATE TABLE seen_requests (
    app_id BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, request_id)
);
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);

-- Validated AuthnRequests parked while the user signs in.
CREATE TABLE pending_requests (
    id TEXT PRIMARY KEY,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    request TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_requests_expiry ON pending_requests (expires_at);

-- Opaque, stable per (application, user) identifiers for the persistent NameID format.
CREATE TABLE persistent_ids (
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value TEXT NOT NULL UNIQUE,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    name TEXT NOT NULL,
    actor TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    app TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    success BIGINT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_name ON events (name, at);
CREATE INDEX events_app ON events (app, at);
CREATE INDEX events_username ON events (username, at);
