-- SAML lifecycle (issue 8): staged certificate rotation and expiry warnings.
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
