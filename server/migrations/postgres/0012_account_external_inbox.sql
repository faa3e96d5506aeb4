-- Some accounts of a domain keep their INBOX in a file (the seed's
-- model): the domain holds the path template and locks, each account says
-- whether it uses them. Accounts of domains whose INBOXes were files go on
-- using them.
ALTER TABLE accounts ADD COLUMN external_inbox BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET external_inbox = 1
WHERE name <> 'public' AND domain_id IN (SELECT id FROM domains WHERE external_inbox IS NOT NULL);
