-- The private key of each signing certificate, sealed (AES-256-GCM under the secret key, bound to its
-- fingerprint); NULL for a certificate made before this migration until start-up imports its key file.
ALTER TABLE app_certs ADD COLUMN key_sealed TEXT;
