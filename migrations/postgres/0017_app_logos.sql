-- Portal tile logos uploaded by administrators (PNG, JPEG or WebP, at most 256 KiB, the type read from the file's
-- own bytes), kept in the database so every replica serves them. `version` (the start of the SHA-256 of the bytes)
-- names the image in its URL and ETag, so a replaced logo is fetched again at once.
CREATE TABLE app_logos (
    app_id BIGINT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    media_type TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    size BIGINT NOT NULL,
    version TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
