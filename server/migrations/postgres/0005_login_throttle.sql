-- Failed logins, counted in the database so that every node sees them:
-- per key (an address or an account), the time in milliseconds at which
-- its failures will have been forgiven (GCRA's theoretical arrival time).
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
