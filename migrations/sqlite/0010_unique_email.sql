-- E-mail addresses are unique, compared without case (lower(), as the store's lookups compare them): e-mail is the
-- default NameID, so two users with one address would be one person to an SP. A database that already holds
-- duplicates must still migrate, so the first user of each address (lowest id) keeps it in the index and the
-- others are marked `email_duplicate` and left out of it; the start-up check reports them. A marked user keeps the
-- mark while its address is unchanged, and re-enters the index as soon as it gets another one.
ALTER TABLE users ADD COLUMN email_duplicate BIGINT NOT NULL DEFAULT 0;
UPDATE users SET email_duplicate = 1 WHERE id NOT IN (SELECT min(id) FROM users GROUP BY lower(email));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email)) WHERE email_duplicate = 0;
