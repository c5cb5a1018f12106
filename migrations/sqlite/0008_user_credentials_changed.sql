-- When a user's password was last set after creation, in Unix milliseconds: IdP sessions signed in before it no
-- longer count, so setting a password (an administrator's reset) signs the user out everywhere.
ALTER TABLE users ADD COLUMN credentials_changed_at BIGINT NOT NULL DEFAULT 0;
