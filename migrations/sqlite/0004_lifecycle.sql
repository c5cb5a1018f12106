-- SAML lifecycle (issue 8): staged certificate rotation, expiry warnings, SP metadata refresh, single logout.
-- Times are Unix milliseconds, as everywhere.

-- When a staged (`next`) certificate is to become current; NULL: only on command.
ALTER TABLE app_certs ADD COLUMN activate_at BIGINT;

-- Expiry warnings already given: one row per certificate and threshold (60, 30, 7, 1 days), so the warning is
-- recorded once whichever replica sees it first, and never again after a restart.
CREATE TABLE cert_expiry_warnings (
    fingerprint TEXT NOT NULL,
    days BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (fingerprint, days)
);

-- SP metadata registered from a URL: refreshed by housekeeping, one replica at a time per application (the lease
-- `locked_until`). `last_good` is the last document accepted; a failed fetch, an invalid or expired document
-- keeps it (and the application's settings derived from it).
CREATE TABLE sp_metadata_sources (
    app_id BIGINT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    next_refresh_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_success_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_good TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sp_metadata_sources_due ON sp_metadata_sources (next_refresh_at);

-- Single logout. Which applications an IdP session (its SessionIndex) signed in to, with the NameID each was
-- sent (JSON), so a logout reaches every one of them.
CREATE TABLE sso_participations (
    session_index TEXT NOT NULL,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    name_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (session_index, app_id)
);
CREATE INDEX sso_participations_expiry ON sso_participations (expires_at);

-- A logout in progress: the SPs to notify (front-channel, in the user's browser) and how each answered.
-- SP-initiated runs remember the request to answer when they finish.
CREATE TABLE logout_runs (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    origin_app_id BIGINT REFERENCES applications (id) ON DELETE CASCADE,
    origin_request_id TEXT NOT NULL DEFAULT '',
    relay_state TEXT,
    is_finished BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX logout_runs_expiry ON logout_runs (expires_at);

CREATE TABLE logout_targets (
    run_id TEXT NOT NULL REFERENCES logout_runs (id) ON DELETE CASCADE,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name_id TEXT NOT NULL,
    session_index TEXT NOT NULL,
    -- The ID of our LogoutRequest to this SP; its LogoutResponse names it in InResponseTo.
    request_id TEXT NOT NULL UNIQUE,
    -- pending | done | failed
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, app_id)
);
