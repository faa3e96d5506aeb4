-- The change log's kinds become small integers (LogKind in
-- server/src/service/store/messages.rs): a kind the code does not know is
-- an error when read, not a silent guess. Rows of a kind never written
-- ('acl' was the fallback) read as ACL changes, as they did.
ALTER TABLE changes ADD COLUMN kind_code INTEGER NOT NULL DEFAULT 0;
UPDATE changes SET kind_code = CASE kind
    WHEN 'added' THEN 1
    WHEN 'flags' THEN 2
    WHEN 'expunged' THEN 3
    WHEN 'created' THEN 4
    WHEN 'renamed' THEN 5
    WHEN 'deleted' THEN 6
    ELSE 7
END;
ALTER TABLE changes DROP COLUMN kind;
ALTER TABLE changes RENAME COLUMN kind_code TO kind;
