-- Storage quotas: the most bytes of mail an account, and all the
-- accounts of a domain together, may hold (NULL: no limit).
ALTER TABLE accounts ADD COLUMN quota_bytes INTEGER;
ALTER TABLE domains ADD COLUMN quota_bytes INTEGER;
