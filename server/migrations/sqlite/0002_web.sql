-- The web interface: message summaries for paged lists, full-text search,
-- signed-in browser sessions and server-wide settings.

-- What a message list shows, parsed once per stored content.
CREATE TABLE summaries (
    hash            TEXT PRIMARY KEY REFERENCES blobs(hash) ON DELETE CASCADE,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    sent_at         INTEGER NOT NULL,
    has_attachments INTEGER NOT NULL,
    preview         TEXT NOT NULL
);

-- Words of sender, recipients, subject and text body; its rowid is the
-- summary's. Contentless: the words are indexed, the text is not kept twice.
CREATE VIRTUAL TABLE message_text USING fts5(
    sender, recipients, subject, body,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER summaries_gone AFTER DELETE ON summaries BEGIN
    DELETE FROM message_text WHERE rowid = old.rowid;
END;

-- The newest-first page of a mailbox is an index range.
CREATE INDEX messages_by_date ON messages (mailbox_id, internal_date);

CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
