-- \Recent (RFC 3501): a message is recent for the first session that
-- learns of it. UIDs below this one were claimed by some session already;
-- a session claims the rest as it reports them. Existing mail starts old.
ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE mailboxes SET first_recent_uid = uidnext;
