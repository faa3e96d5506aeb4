-- What each user chose on their settings page. No row: the defaults
-- (no display name, no signature, the browser's time zone).
CREATE TABLE account_settings (
    account_id   BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    signature    TEXT NOT NULL,
    time_zone    TEXT NOT NULL
);

-- When a vacation rule last answered each sender: it answers each at
-- most once per its number of days.
CREATE TABLE vacation_replies (
    rule_id BIGINT NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
    sender  TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, sender)
);

-- Whom each user has written to from the web, for completing addresses
-- in the compose form.
CREATE TABLE contacts (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    used_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, address)
);
