-- The web interface: message summaries for paged lists, full-text search,
-- signed-in browser sessions and server-wide settings.

-- What a message list shows, parsed once per stored content, with the
-- words of sender, recipients, subject and text body for search.
CREATE TABLE summaries (
    hash            TEXT PRIMARY KEY REFERENCES blobs(hash) ON DELETE CASCADE,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    sent_at         BIGINT NOT NULL,
    has_attachments BIGINT NOT NULL,
    preview         TEXT NOT NULL,
    words           TSVECTOR NOT NULL
);
CREATE INDEX summaries_words ON summaries USING GIN (words);

-- The newest-first page of a mailbox is an index range.
CREATE INDEX messages_by_date ON messages (mailbox_id, internal_date);

CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
