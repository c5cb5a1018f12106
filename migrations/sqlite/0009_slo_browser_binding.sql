-- A logout run belongs to the browser that started it: the SHA-256 (hex) of a secret kept in that browser's
-- session; the run's pages refuse any other browser. Each target gets its own opaque RelayState, so what one SP
-- receives says nothing about the run or the other SPs.
ALTER TABLE logout_runs ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE logout_targets ADD COLUMN relay_state TEXT NOT NULL DEFAULT '';
