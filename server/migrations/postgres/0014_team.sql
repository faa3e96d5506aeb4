-- Team inboxes: the activity trail of shared mailboxes, internal notes on
-- their messages, who is present on which node, and the choices a
-- mailbox's administrator makes for its team.

-- Who did what to a shared mailbox, when, through which gateway and from
-- where. No foreign key: the trail of a message outlives the message.
CREATE TABLE activity (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    via        TEXT NOT NULL,
    client     TEXT NOT NULL,
    action     TEXT NOT NULL,
    uid        BIGINT,
    detail     TEXT NOT NULL
);
CREATE INDEX activity_by_mailbox ON activity (mailbox_id, id);
CREATE INDEX activity_by_message ON activity (mailbox_id, uid, id);
CREATE INDEX activity_by_time ON activity (at);

CREATE TABLE notes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        BIGINT NOT NULL,
    author     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX notes_by_message ON notes (mailbox_id, uid);

-- Each node's present sessions (JSON), rewritten when they change and at
-- least every two seconds; a row not rewritten for five is a dead node's.
CREATE TABLE presence (
    node    TEXT PRIMARY KEY,
    entries TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);

-- What a mailbox's administrator chose for its team: whether readers see
-- its activity, and who may send as its owner (comma-separated).
CREATE TABLE team_settings (
    mailbox_id    BIGINT PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
    activity_open BIGINT NOT NULL DEFAULT 0,
    send_as       TEXT NOT NULL DEFAULT ''
);

ALTER TABLE domains ADD COLUMN activity_days BIGINT NOT NULL DEFAULT 90;
ALTER TABLE account_settings ADD COLUMN hide_presence BIGINT NOT NULL DEFAULT 0;
