-- When an administrator's credentials (password, TOTP secret) last changed, in Unix milliseconds: console sessions
-- signed in before it are refused, so a change signs out every other session of that administrator.
ALTER TABLE admins ADD COLUMN credentials_changed_at BIGINT NOT NULL DEFAULT 0;
