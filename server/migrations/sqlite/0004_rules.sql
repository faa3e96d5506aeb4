-- Automated rules for incoming mail. Scope: both ids NULL for the whole
-- server, domain_id for a domain, account_id for one account. The
-- conditions and actions are kept as JSON (mailroom_shared::rules::RuleSpec).
CREATE TABLE rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   INTEGER REFERENCES domains(id) ON DELETE CASCADE,
    account_id  INTEGER REFERENCES accounts(id) ON DELETE CASCADE,
    -- Whose rights the rule's copies use; NULL with by_operator = 1 for
    -- the operator's CLI, NULL with 0 once its author was deleted.
    owner_id    INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
    by_operator INTEGER NOT NULL,
    priority    INTEGER NOT NULL,
    spec        TEXT NOT NULL
);
CREATE INDEX rules_by_domain ON rules (domain_id);
CREATE INDEX rules_by_account ON rules (account_id);

-- Why a rule did less than it says (a copy refused, a mailbox missing):
-- the latest few per rule, shown on the rules page.
CREATE TABLE rule_problems (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX rule_problems_by_rule ON rule_problems (rule_id, id);
