-- RFC 2180 §4.1.1: a session that still shows a message another session
-- expunged can still FETCH it until it is told. So a blob no message
-- refers to any more is kept for a while (orphaned_at, Unix seconds) and
-- swept later, and the change log's expunge rows say which blob, size and
-- date the message had (in detail).
ALTER TABLE blobs ADD COLUMN orphaned_at INTEGER;
CREATE INDEX blobs_orphaned ON blobs (orphaned_at) WHERE orphaned_at IS NOT NULL;
