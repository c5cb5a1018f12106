-- A refreshed SP metadata document that names a new ACS host (scheme, host and port) waits here for an
-- administrator's approval; its other changes are applied at once. Empty when nothing is held.
ALTER TABLE sp_metadata_sources ADD COLUMN held_document TEXT NOT NULL DEFAULT '';
