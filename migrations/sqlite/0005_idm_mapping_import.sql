-- Per-application SCIM attribute mapping choices, and background imports of an SP's users.

-- SCIM paths of optional mapping entries the admin excluded, as a JSON array of strings; required entries are never
-- excluded. The mapping itself comes from the application's catalog connector, or the default table.
ALTER TABLE idm_integrations ADD COLUMN excluded_attributes TEXT NOT NULL DEFAULT '[]';

-- One import of SP accounts into the directory. A provisioning job of kind 'import' works through it in batches and
-- records progress here, so a large import survives restarts and shows how far it got.
CREATE TABLE idm_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- The userNames to import as a JSON array, or NULL for every account the directory does not have.
    selected TEXT,
    -- listing | importing | done | failed
    state TEXT NOT NULL,
    -- SP accounts still to look at, as a JSON array of {user_name, id, email, given_name, family_name, display_name}.
    remaining TEXT NOT NULL DEFAULT '[]',
    total BIGINT NOT NULL DEFAULT 0,
    imported BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idm_imports_app ON idm_imports (app_id, id);

-- What the enqueuer knew that saves an SP call (see store::jobs::Job::hint).
ALTER TABLE provisioning_jobs ADD COLUMN hint TEXT NOT NULL DEFAULT '';

-- Claims walk this index in (not_before, id) order and stop at the first claimable row (store::jobs::claim).
DROP INDEX provisioning_jobs_due;
CREATE INDEX provisioning_jobs_due ON provisioning_jobs (state, not_before, id);
