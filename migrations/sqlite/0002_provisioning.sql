-- Identity management (SCIM provisioning): one integration per application, the links between our users and
-- groups and the SP's resources, and the durable job queue (an outbox written in the same transaction as the
-- directory change that causes it).

CREATE TABLE idm_integrations (
    app_id BIGINT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    -- The bearer token, AES-256-GCM encrypted with the configured secret key; never stored in clear.
    token_enc TEXT NOT NULL,
    manage_groups BIGINT NOT NULL,
    soft_delete BIGINT NOT NULL,
    is_active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- No foreign key to users or groups: a link outlives the row it names until the SP side is cleaned up.
CREATE TABLE idm_user_links (
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    remote_id TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    is_active BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE idm_group_links (
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL,
    remote_id TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id)
);

CREATE TABLE provisioning_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- user | group | reconcile
    kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    -- pending | running | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
-- A pending job absorbs a new one for the same target: jobs hold ids, not snapshots, so one run suffices.
CREATE UNIQUE INDEX provisioning_jobs_pending ON provisioning_jobs (app_id, kind, target_id) WHERE state = 'pending';
CREATE INDEX provisioning_jobs_due ON provisioning_jobs (state, not_before);
CREATE INDEX provisioning_jobs_target ON provisioning_jobs (app_id, kind, target_id, state);
