-- The profile properties the seeds' SCIM tables ask for: a preferred language (RFC 5646 tag) and the work address
-- by part (street, locality, region, postal code, country); the one-line work_address stays as the formatted one.
ALTER TABLE users ADD COLUMN preferred_language TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN work_street TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN work_locality TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN work_region TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN work_postal_code TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN work_country TEXT NOT NULL DEFAULT '';
