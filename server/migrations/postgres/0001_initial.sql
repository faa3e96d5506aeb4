-- Mailroom's store on PostgreSQL. Integers are 64-bit; times are Unix seconds.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('uidvalidity', 0);

CREATE TABLE domains (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    external_inbox TEXT,
    lock_methods   TEXT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE domain_aliases (
    name      TEXT PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE
);

CREATE TABLE accounts (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id     BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE account_aliases (
    domain_id  BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (domain_id, name)
);

CREATE TABLE routing_rules (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    priority BIGINT NOT NULL,
    pattern  TEXT NOT NULL,
    target   TEXT NOT NULL
);

CREATE TABLE mailboxes (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uidvalidity    BIGINT NOT NULL,
    uidnext        BIGINT NOT NULL DEFAULT 1,
    highest_modseq BIGINT NOT NULL DEFAULT 1,
    special_use    TEXT,
    seen_mode      TEXT NOT NULL DEFAULT 'shared',
    UNIQUE (account_id, name)
);

-- Message content, stored once however many mailboxes hold it.
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BYTEA NOT NULL
);

CREATE TABLE messages (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           BIGINT NOT NULL,
    modseq        BIGINT NOT NULL,
    system_flags  BIGINT NOT NULL,
    keywords      TEXT NOT NULL,
    internal_date BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    blob_hash     TEXT NOT NULL REFERENCES blobs(hash),
    envelope_from TEXT,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages (blob_hash);

-- \Seen of mailboxes in per-user seen mode: one row per reader and message.
CREATE TABLE seen_by (
    mailbox_id BIGINT NOT NULL,
    uid        BIGINT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (mailbox_id, uid, account_id),
    FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid) ON DELETE CASCADE
);

-- grants_lookup is the "shared with me" index: 1 where a positive entry
-- holds the lookup right, so listing ~* is one indexed query.
CREATE TABLE acl (
    mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    identifier    TEXT NOT NULL,
    negative      BIGINT NOT NULL,
    rights        TEXT NOT NULL,
    grants_lookup BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, identifier, negative)
);
CREATE INDEX acl_shared_with ON acl (identifier, grants_lookup);

CREATE TABLE subscriptions (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- The change log: one row per message (or mailbox) touched by an operation;
-- all rows of one operation share its MODSEQ. No foreign key, so a deleted
-- mailbox's last changes can still be read by those who watched it.
CREATE TABLE changes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id   BIGINT NOT NULL,
    modseq       BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    uid          BIGINT,
    system_flags BIGINT,
    keywords     TEXT,
    account_id   BIGINT,
    detail       TEXT,
    origin       TEXT NOT NULL
);
CREATE INDEX changes_by_mailbox ON changes (mailbox_id, modseq);
