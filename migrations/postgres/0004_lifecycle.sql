-- SAML lifecycle (issue 8): staged certificate rotation, expiry warnings, SP metadata refresh.
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
