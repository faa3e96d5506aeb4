-- Mailroom's store on SQLite. Integers are 64-bit; times are Unix seconds.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('uidvalidity', 0);

CREATE TABLE domains (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    external_inbox TEXT,
    lock_methods   TEXT,
    created_at     INTEGER NOT NULL
);

CREATE TABLE domain_aliases (
    name      TEXT PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE account_aliases (
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (domain_id, name)
);

CREATE TABLE routing_rules (
    id       INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    pattern  TEXT NOT NULL,
    target   TEXT NOT NULL
);

CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    special_use    TEXT,
    seen_mode      TEXT NOT NULL DEFAULT 'shared',
    UNIQUE (account_id, name)
);

-- Message content, stored once however many mailboxes hold it.
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
);

CREATE TABLE messages (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    system_flags  INTEGER NOT NULL,
    keywords      TEXT NOT NULL,
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob_hash     TEXT NOT NULL REFERENCES blobs(hash),
    envelope_from TEXT,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages (blob_hash);

-- \Seen of mailboxes in per-user seen mode: one row per reader and message.
CREATE TABLE seen_by (
    mailbox_id INTEGER NOT NULL,
    uid        INTEGER NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (mailbox_id, uid, account_id),
    FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid) ON DELETE CASCADE
);

-- grants_lookup is the "shared with me" index: 1 where a positive entry
-- holds the lookup right, so listing ~* is one indexed query.
CREATE TABLE acl (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    identifier    TEXT NOT NULL,
    negative      INTEGER NOT NULL,
    rights        TEXT NOT NULL,
    grants_lookup INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, identifier, negative)
);
CREATE INDEX acl_shared_with ON acl (identifier, grants_lookup);

CREATE TABLE subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- The change log: one row per message (or mailbox) touched by an operation;
-- all rows of one operation share its MODSEQ. No foreign key, so a deleted
-- mailbox's last changes can still be read by those who watched it.
CREATE TABLE changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox_id   INTEGER NOT NULL,
    modseq       INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    uid          INTEGER,
    system_flags INTEGER,
    keywords     TEXT,
    account_id   INTEGER,
    detail       TEXT,
    origin       TEXT NOT NULL
);
CREATE INDEX changes_by_mailbox ON changes (mailbox_id, modseq);
