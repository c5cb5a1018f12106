-- What an API token may do: 'full' (every method) or 'read-only' (GET and HEAD only). Tokens made before scopes
-- existed keep full access.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read-only'));
