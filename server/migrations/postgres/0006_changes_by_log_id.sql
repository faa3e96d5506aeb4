-- A session's watch that fell behind reads its mailbox's log after the
-- last row it saw: with this index that is a range of the rows it missed,
-- not a scan of every change the mailbox ever had (a busy shared mailbox
-- gathers tens of thousands).
CREATE INDEX changes_by_mailbox_log ON changes (mailbox_id, id);
