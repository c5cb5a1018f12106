-- Single-use links mailed to users (issue 15): invitations (set a first password) and password resets. Only the
-- SHA-256 of each 256-bit random token is stored. A link is consumed by one UPDATE that sets used_at where it is
-- still unused and unexpired, so it works once even across replicas. Times are Unix milliseconds.

CREATE TABLE user_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- invite | reset
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    -- Set when a newer link of the same purpose replaced this unused one.
    revoked_at BIGINT
);
CREATE INDEX user_links_user ON user_links (user_id, purpose, created_at);
