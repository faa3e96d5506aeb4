-- How long to wait for another program's lock on an external INBOX file,
-- in seconds (NULL: the default).
ALTER TABLE domains ADD COLUMN lock_timeout INTEGER;
