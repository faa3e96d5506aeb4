//! The query plans of the web's list on a big generated mailbox: every
//! page, sort, count and search reaches its messages through the index
//! meant for it. A plan that turns into a sequential scan of the messages
//! (say, after a change to a query or an index) fails here, long before a
//! million-message mailbox would show it.

use mailroom_tests::World;

const MESSAGES: u32 = 30_000;

/// Fills alice's INBOX straight in the database (far faster than
/// delivering): varied senders, subjects and sizes, a text of as many
/// words as a short mail (so the tables are as wide as real ones, which
/// the planner weighs), "budget" in one
/// message of ten, "zeppelin" in one, and a reader's own read marks on
/// one in five; the kept counts follow by trigger.
fn generate(postgres: bool, mailbox: i64, reader: i64) -> String {
    let n = MESSAGES;
    if postgres {
        format!(
            "INSERT INTO blobs (hash, data) SELECT md5(i::text), convert_to('m' || i, 'UTF8') FROM generate_series(1, {n}) i;
             INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview, words)
               SELECT md5(i::text), 'Sender ' || (i % 300), 'alice', 'Topic ' || (i % 700), 0, 0, '',
                 setweight(to_tsvector('simple', 'sender' || (i % 300)), 'A') || to_tsvector('simple', 'words of message ' || i
                   || ' ' || array_to_string(ARRAY(SELECT md5(i::text || '-' || k) FROM generate_series(1, 25) k), ' ')
                   || CASE WHEN i % 10 = 0 THEN ' budget' ELSE '' END || CASE WHEN i = 777 THEN ' zeppelin' ELSE '' END)
               FROM generate_series(1, {n}) i;
             INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, internal_date, size, blob_hash, sort_sender, sort_subject)
               SELECT {mailbox}, i, 1, i % 2, '', 1790000000 + i * 60, 1000 + (i * 37 % 5000), md5(i::text),
                 'sender ' || (i % 300), 'topic ' || (i % 700) FROM generate_series(1, {n}) i;
             INSERT INTO seen_by (mailbox_id, uid, account_id)
               SELECT {mailbox}, i, {reader} FROM generate_series(5, {n}, 5) i;
             UPDATE mailboxes SET uidnext = {n} + 1 WHERE id = {mailbox};
             ANALYZE;"
        )
    } else {
        format!(
            "CREATE TEMP TABLE g AS WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
               SELECT i, printf('%032d', i) AS h FROM s;
             INSERT INTO blobs (hash, data) SELECT h, CAST('m' || i AS BLOB) FROM g;
             INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview)
               SELECT h, 'Sender ' || (i % 300), 'alice', 'Topic ' || (i % 700), 0, 0, '' FROM g;
             INSERT INTO message_text (rowid, sender, recipients, subject, body)
               SELECT s.rowid, 'sender' || (i % 300), 'alice', 'Topic ' || (i % 700), 'words of message ' || i
                 || CASE WHEN i % 10 = 0 THEN ' budget' ELSE '' END || CASE WHEN i = 777 THEN ' zeppelin' ELSE '' END
               FROM g JOIN summaries s ON s.hash = g.h;
             INSERT INTO messages (mailbox_id, uid, modseq, system_flags, keywords, internal_date, size, blob_hash, sort_sender, sort_subject, summary_id)
               SELECT {mailbox}, i, 1, i % 2, '', 1790000000 + i * 60, 1000 + (i * 37 % 5000), h,
                 'sender ' || (i % 300), 'topic ' || (i % 700), s.rowid FROM g JOIN summaries s ON s.hash = g.h;
             INSERT INTO seen_by (mailbox_id, uid, account_id) SELECT {mailbox}, i, {reader} FROM g WHERE i % 5 = 0;
             UPDATE mailboxes SET uidnext = {n} + 1 WHERE id = {mailbox};
             ANALYZE;"
        )
    }
}

/// The index each list query is meant to use, by the start of its name.
fn intended(query: &str) -> &'static [&'static str] {
    let sort = query.split(':').next().unwrap_or_default();
    let list = match sort {
        "date" => "messages_by_date",
        "sender" => "messages_by_sender",
        "subject" => "messages_by_subject",
        "size" => "messages_by_size",
        _ => "",
    };
    match query {
        "counts" => &["mailboxes_pkey", "INTEGER PRIMARY KEY"],
        // A rare word is found from the word index.
        q if q.contains("zeppelin") => &["summaries_words", "VIRTUAL TABLE"],
        // A common one may be found either way: along the list's index,
        // keeping the messages whose words match, or from the word index.
        q if q.contains("budget") => match sort {
            "date" => &["messages_by_date", "summaries_words", "VIRTUAL TABLE"],
            "sender" => &["messages_by_sender", "summaries_words", "VIRTUAL TABLE"],
            "subject" => &["messages_by_subject", "summaries_words", "VIRTUAL TABLE"],
            _ => &["messages_by_size", "summaries_words", "VIRTUAL TABLE"],
        },
        _ => std::slice::from_ref(match list {
            "messages_by_date" => &"messages_by_date",
            "messages_by_sender" => &"messages_by_sender",
            "messages_by_subject" => &"messages_by_subject",
            _ => &"messages_by_size",
        }),
    }
}

/// A step that reads a whole big table: a sequential scan on PostgreSQL,
/// a SCAN without a search key on SQLite.
fn scans_a_table(line: &str) -> bool {
    let line = line.trim_start_matches([' ', '-', '>']);
    ["messages", "summaries", "blobs", "seen_by"]
        .iter()
        .any(|t| line.contains(&format!("Seq Scan on {t}")))
        || ["m", "s", "messages", "summaries"]
            .iter()
            .any(|t| line == format!("SCAN {t}") || line.starts_with(&format!("SCAN {t} ")))
}

mailroom_tests::both_backends!(list_queries_use_their_indexes, |world: World| async move {
    let alice = world.user("alice").await;
    let postgres = world.db.url.starts_with("postgres");
    let inbox = world
        .db
        .number("SELECT b.id FROM mailboxes b JOIN accounts a ON a.id = b.account_id WHERE a.name = 'alice' AND b.name = 'INBOX'")
        .await;
    let reader = world.db.number("SELECT id FROM accounts WHERE name = 'alice'").await;
    world.db.execute(&generate(postgres, inbox, reader)).await;
    let service = if postgres {
        // A planner told that parallel workers cost nothing would use
        // them everywhere: the plans below must still have none.
        world
            .db
            .execute(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET parallel_setup_cost = 0; \
                 ALTER DATABASE %I SET parallel_tuple_cost = 0; \
                 ALTER DATABASE %I SET min_parallel_index_scan_size = 0; \
                 ALTER DATABASE %I SET min_parallel_table_scan_size = 0', \
                 current_database(), current_database(), current_database(), current_database()); END $$",
            )
            .await;
        // Not vacuous: a session that does not turn them off may have them.
        let workers = world
            .db
            .number("SELECT current_setting('max_parallel_workers_per_gather')::bigint")
            .await;
        assert!(workers > 0, "this server allows no parallel workers: nothing to test");
        world.db.service().await // connections opened since
    } else {
        world.service.clone()
    };
    let plans = service
        .query_plans(&alice, "INBOX", &["zeppelin", "budget"])
        .await
        .unwrap();
    assert_eq!(plans.len(), 1 + 4 * 6, "counts, and six queries per sort");
    for p in &plans {
        let scan = p.plan.lines().find(|l| scans_a_table(l));
        assert!(
            scan.is_none(),
            "{}: reads a whole table ({scan:?}):\n{}",
            p.query,
            p.plan
        );
        // A parallel plan starts a worker process before it reads a row:
        // more than the short walks of a page or a search cost.
        assert!(
            !p.plan.contains("Gather") && !p.plan.contains("Parallel"),
            "{}: a parallel plan:\n{}",
            p.query,
            p.plan
        );
        let wanted = intended(&p.query);
        assert!(
            wanted.iter().any(|index| p.plan.contains(index)),
            "{}: uses none of {wanted:?}:\n{}",
            p.query,
            p.plan
        );
    }
    // The generated mailbox is what the list shows.
    let (total, _) = world
        .service
        .folders(&alice)
        .await
        .unwrap()
        .iter()
        .find(|f| f.info.name == "INBOX")
        .map(|f| (f.counts.messages, f.counts.unseen))
        .unwrap();
    assert_eq!(total, MESSAGES);
});
