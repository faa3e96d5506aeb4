-- A search of a common word in a big mailbox walks the list's index and
-- keeps the messages whose words match (see `search_from`). It used to
-- reach each walked message's summary by its 64-character content hash:
-- a table row and a text index probe per message, 26 of the 41 ms such a
-- search took in a million messages. Each message now keeps its
-- summary's rowid (the word index's rowid too), and the list's indexes
-- hold it, so the walk reads nothing but the index. NULL until the
-- content has a summary (content stored before summaries existed gets
-- one later, and its messages then get the rowid). SQLite only:
-- PostgreSQL searches from its own word index.
ALTER TABLE messages ADD COLUMN summary_id INTEGER;
UPDATE messages SET summary_id = (SELECT s.rowid FROM summaries s WHERE s.hash = messages.blob_hash);
DROP INDEX messages_by_date;
DROP INDEX messages_by_size;
DROP INDEX messages_by_sender;
DROP INDEX messages_by_subject;
CREATE INDEX messages_by_date ON messages (mailbox_id, internal_date, uid, summary_id);
CREATE INDEX messages_by_size ON messages (mailbox_id, size, uid, summary_id);
CREATE INDEX messages_by_sender ON messages (mailbox_id, sort_sender, uid DESC, summary_id);
CREATE INDEX messages_by_subject ON messages (mailbox_id, sort_subject, uid DESC, summary_id);
