-- Big mailboxes (a million messages in one): what a list page needs is
-- kept ready instead of counted or sorted per request.

-- How many messages a mailbox holds and how many lack \Seen (bit 1),
-- kept by triggers so that no write path can forget them: the folder
-- tree and "1–50 of 1,000,000" read one row instead of counting.
ALTER TABLE mailboxes ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET
    message_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
    unseen_count = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND (m.system_flags & 1) = 0);

CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    UPDATE mailboxes SET message_count = message_count + 1,
        unseen_count = unseen_count + ((NEW.system_flags & 1) = 0)
    WHERE id = NEW.mailbox_id;
END;
CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE mailboxes SET message_count = message_count - 1,
        unseen_count = unseen_count - ((OLD.system_flags & 1) = 0)
    WHERE id = OLD.mailbox_id;
END;
CREATE TRIGGER messages_count_seen AFTER UPDATE OF system_flags ON messages
WHEN (OLD.system_flags & 1) <> (NEW.system_flags & 1) BEGIN
    UPDATE mailboxes SET unseen_count = unseen_count + ((NEW.system_flags & 1) = 0) - ((OLD.system_flags & 1) = 0)
    WHERE id = NEW.mailbox_id;
END;

-- The same for mailboxes where each reader has their own \Seen: how many
-- messages each reader has seen.
CREATE TABLE seen_counts (
    mailbox_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    seen       INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, account_id)
);
INSERT INTO seen_counts (mailbox_id, account_id, seen)
    SELECT mailbox_id, account_id, COUNT(*) FROM seen_by GROUP BY mailbox_id, account_id;
CREATE TRIGGER seen_by_count_insert AFTER INSERT ON seen_by BEGIN
    INSERT INTO seen_counts (mailbox_id, account_id, seen) VALUES (NEW.mailbox_id, NEW.account_id, 1)
        ON CONFLICT (mailbox_id, account_id) DO UPDATE SET seen = seen + 1;
END;
CREATE TRIGGER seen_by_count_delete AFTER DELETE ON seen_by BEGIN
    UPDATE seen_counts SET seen = seen - 1 WHERE mailbox_id = OLD.mailbox_id AND account_id = OLD.account_id;
END;
CREATE TRIGGER mailboxes_drop_seen_counts AFTER DELETE ON mailboxes BEGIN
    DELETE FROM seen_counts WHERE mailbox_id = OLD.id;
END;

-- The list's sort keys beside each message, so that every sort is an
-- index range: sender and subject as the list sorts them (lower case,
-- the first 64 characters), newest first among equals.
ALTER TABLE messages ADD COLUMN sort_sender TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN sort_subject TEXT NOT NULL DEFAULT '';
UPDATE messages SET
    sort_sender = COALESCE((SELECT LOWER(SUBSTR(s.sender, 1, 64)) FROM summaries s WHERE s.hash = messages.blob_hash), ''),
    sort_subject = COALESCE((SELECT LOWER(SUBSTR(s.subject, 1, 64)) FROM summaries s WHERE s.hash = messages.blob_hash), '');
DROP INDEX messages_by_date;
CREATE INDEX messages_by_date ON messages (mailbox_id, internal_date, uid);
CREATE INDEX messages_by_size ON messages (mailbox_id, size, uid);
CREATE INDEX messages_by_sender ON messages (mailbox_id, sort_sender, uid DESC);
CREATE INDEX messages_by_subject ON messages (mailbox_id, sort_subject, uid DESC);
