-- Each integration's own reconciliation schedule: its interval (0: the configured reconcile_interval_secs) and
-- when its next reconciliation is due (Unix milliseconds; 0: at the scheduler's next look).
ALTER TABLE idm_integrations ADD COLUMN reconcile_interval_secs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE idm_integrations ADD COLUMN next_reconcile_at BIGINT NOT NULL DEFAULT 0;
