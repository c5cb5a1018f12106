-- Outbound mail: a durable outbox, delivered by the mail worker with retries (as provisioning jobs are), and the
-- administrators' e-mail addresses for notices. Times are Unix milliseconds, the same as in the PostgreSQL schema.

CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- What the mail is (cert_expiry, test, ...): for events and the queue view.
    kind TEXT NOT NULL,
    -- The recipient's address, in clear for events and the queue view.
    recipient TEXT NOT NULL,
    -- Subject, plain-text and HTML parts as JSON, AES-256-GCM sealed under the secret key: a mail may hold a
    -- single-use link, which must not rest readable in the database. The row is deleted once delivered.
    message_enc TEXT NOT NULL,
    -- pending | sending | failed
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, not_before);

ALTER TABLE admins ADD COLUMN email TEXT NOT NULL DEFAULT '';
