-- Search by field (from:, to:, subject:): new content indexes senders'
-- and recipients' addresses in their FTS5 columns. Nothing to change in
-- what is stored.
SELECT 1;
