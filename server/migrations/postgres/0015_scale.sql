-- Big mailboxes (a million messages in one): what a list page needs is
-- kept ready instead of counted or sorted per request.

-- How many messages a mailbox holds and how many lack \Seen (bit 1),
-- kept by triggers so that no write path can forget them: the folder
-- tree and "1–50 of 1,000,000" read one row instead of counting. Every
-- writer of a mailbox's messages holds its row already (UIDNEXT, MODSEQ),
-- so the triggers take no lock the writer did not have.
ALTER TABLE mailboxes ADD COLUMN message_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN unseen_count BIGINT NOT NULL DEFAULT 0;
UPDATE mailboxes b SET message_count = c.total, unseen_count = c.unseen
FROM (SELECT mailbox_id, COUNT(*) AS total, COUNT(*) FILTER (WHERE (system_flags & 1) = 0) AS unseen
      FROM messages GROUP BY mailbox_id) c
WHERE c.mailbox_id = b.id;

CREATE FUNCTION messages_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE mailboxes SET message_count = message_count + 1,
            unseen_count = unseen_count + CASE WHEN (NEW.system_flags & 1) = 0 THEN 1 ELSE 0 END
        WHERE id = NEW.mailbox_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE mailboxes SET message_count = message_count - 1,
            unseen_count = unseen_count - CASE WHEN (OLD.system_flags & 1) = 0 THEN 1 ELSE 0 END
        WHERE id = OLD.mailbox_id;
    ELSIF (OLD.system_flags & 1) <> (NEW.system_flags & 1) THEN
        UPDATE mailboxes SET unseen_count = unseen_count + CASE WHEN (NEW.system_flags & 1) = 0 THEN 1 ELSE -1 END
        WHERE id = NEW.mailbox_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_count AFTER INSERT OR DELETE OR UPDATE OF system_flags ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_count();

-- The same for mailboxes where each reader has their own \Seen: how many
-- messages each reader has seen.
CREATE TABLE seen_counts (
    mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    account_id BIGINT NOT NULL,
    seen       BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, account_id)
);
INSERT INTO seen_counts (mailbox_id, account_id, seen)
    SELECT mailbox_id, account_id, COUNT(*) FROM seen_by GROUP BY mailbox_id, account_id;
CREATE FUNCTION seen_by_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO seen_counts (mailbox_id, account_id, seen) VALUES (NEW.mailbox_id, NEW.account_id, 1)
            ON CONFLICT (mailbox_id, account_id) DO UPDATE SET seen = seen_counts.seen + 1;
    ELSE
        UPDATE seen_counts SET seen = seen - 1 WHERE mailbox_id = OLD.mailbox_id AND account_id = OLD.account_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER seen_by_count AFTER INSERT OR DELETE ON seen_by
    FOR EACH ROW EXECUTE FUNCTION seen_by_count();

-- The list's sort keys beside each message, so that every sort is an
-- index range: sender and subject as the list sorts them (lower case,
-- the first 64 characters), newest first among equals.
ALTER TABLE messages ADD COLUMN sort_sender TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN sort_subject TEXT NOT NULL DEFAULT '';
UPDATE messages m SET sort_sender = LOWER(SUBSTR(s.sender, 1, 64)), sort_subject = LOWER(SUBSTR(s.subject, 1, 64))
FROM summaries s WHERE s.hash = m.blob_hash;
DROP INDEX messages_by_date;
CREATE INDEX messages_by_date ON messages (mailbox_id, internal_date, uid);
CREATE INDEX messages_by_size ON messages (mailbox_id, size, uid);
CREATE INDEX messages_by_sender ON messages (mailbox_id, sort_sender, uid DESC);
CREATE INDEX messages_by_subject ON messages (mailbox_id, sort_subject, uid DESC);
