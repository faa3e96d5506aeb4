//! What the web interface needs of the store: message summaries for paged
//! lists, full-text search (SQLite FTS5, PostgreSQL tsvector), counts, and
//! browser sessions.

use mailroom_shared::dto::{Anchor, PageAt, SortKey};
use mailroom_shared::search::Query;
use mailroom_shared::{Flags, SystemFlag};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::messages::{MESSAGE_COLUMNS, Tx, message_from, uid_list};
use super::{Backend, Result, Store};
use crate::message::Summary;
use crate::service::types::{Indexed, MessageMeta};

/// How many matches a search counts exactly; past it the list says
/// "more than". Counting every match of a common word in a big mailbox
/// costs a read of each; this many cost a few milliseconds.
pub const SEARCH_COUNT: u32 = 500;

/// What a search found: the page asked for, and how many match.
#[derive(Default)]
pub struct Found {
    /// Exact when `more` is false, else a lower bound.
    pub total: u32,
    pub more: bool,
    pub rows: Vec<ListedMessage>,
}

/// Whether walking a mailbox of `size` messages in the list's order,
/// keeping those among `matches` (the word index's count, all mailboxes),
/// reads fewer rows than joining and sorting every match: the walk stops
/// once it has [`SEARCH_COUNT`] of them, after `SEARCH_COUNT / share`
/// messages. Measured on SQLite, a match joined costs about twice a
/// message walked.
fn walk_is_cheaper(matches: i64, size: i64) -> bool {
    let walked = i64::from(SEARCH_COUNT) * size / matches.max(1);
    matches > 1_000 && walked < 2 * matches
}

/// The fewest matches for which [`walk_is_cheaper`] holds in a mailbox
/// of `size`: it holds for every count above too, so counting the word
/// index's matches can stop there. A common word's 100,000 matches need
/// not all be counted to know the walk wins.
fn walk_threshold(size: i64) -> i64 {
    // walked < 2 × matches ⇔ matches² > SEARCH_COUNT × size / 2, give or
    // take the integer division: start just below, step up.
    let mut m = ((i64::from(SEARCH_COUNT) * size / 2) as f64).sqrt() as i64;
    m = m.max(1_001) - 1;
    while !walk_is_cheaper(m, size) {
        m += 1;
    }
    m
}

/// SQLite: the fewest matches of a word from which IMAP SEARCH reads a
/// mailbox of `size` messages through its list index (which holds each
/// message's summary rowid), keeping those among the word's matches,
/// instead of going from each match to its messages. The read costs
/// about 28 ns a message and 1 µs a match, the other way 5 µs a match:
/// a word in a tenth of a million messages took 134 ms the first way and
/// 529 ms the other. Below a thousand matches either is quick.
fn read_through_from(size: i64) -> i64 {
    (size / 150).max(1_000) + 1
}

/// A message of a list page: its row and its summary.
pub struct ListedMessage {
    pub row: MessageMeta,
    pub summary: Summary,
    /// The mailbox it is in (a search may span several).
    pub mailbox_id: i64,
}

/// Stores the summary (and search words) of new content, once; with
/// `blob`, the content itself first (wanted again if it waited to be
/// swept). On PostgreSQL both go in one statement: one round trip less
/// per delivery.
pub(super) async fn insert_summary(
    tx: &mut Tx,
    store: &Store,
    hash: &str,
    s: &Summary,
    blob: Option<&[u8]>,
) -> Result<()> {
    match store.backend {
        Backend::Sqlite => {
            // One spelling of these statements, with deliveries' (which
            // run them ahead of the message's own): the hash is `$1`, the
            // summary `$2` on, and the content (when given) after it.
            let sql = match blob {
                Some(_) => format!("{}{}", sqlite_blob(1, 11), sqlite_summary(1, 2)),
                None => sqlite_summary(1, 2),
            };
            let mut query = bind_summary(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash), s, store.backend);
            if let Some(bytes) = blob {
                query = query.bind(bytes);
            }
            query.execute(&mut **tx).await?;
        }
        Backend::Postgres => {
            // With the content, both go in one statement: one round trip
            // less.
            let sql = match blob {
                Some(_) => format!("WITH {}, {} SELECT 1", pg_blob(1, 11, ""), pg_summary(1, 2, "")),
                None => format!("WITH {} SELECT 1", pg_summary(1, 2, "")),
            };
            let mut query = bind_summary(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash), s, store.backend);
            if let Some(bytes) = blob {
                query = query.bind(bytes);
            }
            query.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// SQLite: the statements of [`insert_summary`] with the content, to
/// run ahead of others in one query: `$8` is the content's hash, `$12`
/// to `$20` the summary and `$21` the content, as [`bind_new_content`]
/// binds them after the eleven before.
pub(super) static SQLITE_NEW_CONTENT: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}{}", sqlite_blob(8, 21), sqlite_summary(8, 12)));

/// SQLite: stores content under the hash in `$hash`, from `$data`.
fn sqlite_blob(hash: usize, data: usize) -> String {
    format!("{INSERT_BLOB} VALUES (${hash}, ${data}) {BLOB_CONFLICT}; ")
}

/// SQLite: stores a summary under the hash in `$hash`, its nine values
/// ([`bind_summary`]'s) from `$first` on. The words are indexed only when
/// the summary is new (`changes()`: the rows the statement before added).
fn sqlite_summary(hash: usize, first: usize) -> String {
    let [
        sender,
        recipients,
        subject,
        sent_at,
        attachments,
        preview,
        sender_words,
        recipient_words,
        text,
    ] = std::array::from_fn(|i| first + i);
    format!(
        "INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview) \
         VALUES (${hash}, ${sender}, ${recipients}, ${subject}, ${sent_at}, ${attachments}, ${preview}) \
         ON CONFLICT (hash) DO NOTHING; \
         INSERT INTO message_text (rowid, sender, recipients, subject, body) \
         SELECT rowid, ${sender_words}, ${recipient_words}, ${subject}, ${text} FROM summaries \
         WHERE hash = ${hash} AND changes() > 0; "
    )
}

/// Binds the nine values of [`sqlite_summary`] and [`pg_summary`], in
/// their order; PostgreSQL's word index gets the text's
/// [`distinct_words`].
pub(super) fn bind_summary<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    s: &'q Summary,
    backend: Backend,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let query = query
        .bind(s.sender.as_str())
        .bind(s.recipients.as_str())
        .bind(s.subject.as_str())
        .bind(s.sent_at.unwrap_or(0))
        .bind(i64::from(s.has_attachments))
        .bind(s.preview.as_str())
        .bind(s.sender_words.as_str())
        .bind(s.recipient_words.as_str());
    match backend {
        Backend::Sqlite => query.bind(s.text.as_str()),
        Backend::Postgres => query.bind(distinct_words(&s.text)),
    }
}

/// Binds `$12` to `$21` of [`SQLITE_NEW_CONTENT`] (after the eleven
/// before them).
pub(super) fn bind_new_content<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    bytes: &'q [u8],
    s: &'q Summary,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    bind_summary(query, s, Backend::Sqlite).bind(bytes)
}

/// PostgreSQL: a query's `b` that stores content under the hash in
/// `$hash`, from `$data`, once for each row of `source` (`FROM x`, or ""
/// for once).
pub(super) fn pg_blob(hash: usize, data: usize, source: &str) -> String {
    format!("b AS (INSERT INTO blobs (hash, data) SELECT ${hash}, ${data} {source} {BLOB_CONFLICT})")
}

/// PostgreSQL: a query's `s` that stores a summary and its words under
/// the hash in `$hash`, [`bind_summary`]'s nine values from `$first`
/// on, once for each row of `source` (as [`pg_blob`]).
pub(super) fn pg_summary(hash: usize, first: usize, source: &str) -> String {
    let [
        sender,
        recipients,
        subject,
        sent_at,
        attachments,
        preview,
        sender_words,
        recipient_words,
        text,
    ] = std::array::from_fn(|i| first + i);
    format!(
        "s AS (INSERT INTO summaries (hash, sender, recipients, subject, sent_at, has_attachments, preview, words) \
         SELECT ${hash}, ${sender}, ${recipients}, ${subject}, ${sent_at}, ${attachments}, ${preview}, \
         setweight(to_tsvector('simple', ${sender_words}), 'A') \
         || setweight(to_tsvector('simple', ${recipient_words}), 'B') \
         || setweight(to_tsvector('simple', ${subject}), 'C') || to_tsvector('simple', ${text}) {source} \
         ON CONFLICT (hash) DO NOTHING)"
    )
}

/// The words of a text for PostgreSQL's word index: each once, in the
/// order they first come, up to 200,000 bytes. `to_tsvector` costs
/// about a millisecond of the database's CPU per 10 KB of text, most of
/// it parsing words again that it saw already; searches ask which words a
/// message has (`&` of words, weights), never where or how often, so the
/// index holds the same lexemes from about half the text. Words are
/// split at whitespace, which the parser never joins across, so each is
/// parsed as it would be in the whole text; exact duplicates only (the
/// parser's lower-casing is left to it).
fn distinct_words(text: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(text.len().min(200_000));
    for word in text.split_whitespace() {
        if out.len() + 1 + word.len() > 200_000 {
            break;
        }
        if seen.insert(word) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// Content is stored once per hash; content that had lost its last
/// message and waits to be swept is wanted again.
const INSERT_BLOB: &str = "INSERT INTO blobs (hash, data)";
const BLOB_CONFLICT: &str = "ON CONFLICT (hash) DO UPDATE SET orphaned_at = NULL";

const SUMMARY_COLUMNS: &str = "COALESCE(s.sender, '') AS sender, COALESCE(s.recipients, '') AS recipients, \
     COALESCE(s.subject, '') AS subject, COALESCE(s.sent_at, 0) AS sent_at, \
     COALESCE(s.has_attachments, 0) AS has_attachments, COALESCE(s.preview, '') AS preview";

fn listed_from(row: &AnyRow) -> Result<ListedMessage> {
    let sent_at: i64 = row.try_get("sent_at")?;
    Ok(ListedMessage {
        row: message_from(row)?,
        summary: Summary {
            sender: row.try_get("sender")?,
            recipients: row.try_get("recipients")?,
            subject: row.try_get("subject")?,
            sent_at: (sent_at != 0).then_some(sent_at),
            has_attachments: row.try_get::<i64, _>("has_attachments")? != 0,
            preview: row.try_get("preview")?,
            ..Summary::default()
        },
        mailbox_id: row.try_get("mailbox_id")?,
    })
}

/// How a list is ordered: the sort key's column (kept on `messages`,
/// each with its index), whether it runs downwards, and the UID after
/// it, newest first among equals, which makes the order total.
struct Order {
    column: &'static str,
    descending: bool,
}

impl Order {
    fn of(sort: SortKey) -> Order {
        let (column, descending) = match sort {
            SortKey::Date => ("m.internal_date", true),
            SortKey::Sender => ("m.sort_sender", false),
            SortKey::Subject => ("m.sort_subject", false),
            SortKey::Size => ("m.size", true),
        };
        Order { column, descending }
    }

    /// `ORDER BY` of the list, or of the list read backwards.
    fn by(&self, backwards: bool) -> String {
        let dir = |desc: bool| if desc != backwards { "DESC" } else { "ASC" };
        format!("{} {}, m.uid {}", self.column, dir(self.descending), dir(true))
    }
}

fn order_by(sort: SortKey) -> String {
    Order::of(sort).by(false)
}

/// The words of a search term as the index splits them.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
}

/// SQLite's FTS5 query for a search's words: each quoted (so nothing in
/// it is an operator), all required, the last free word as a prefix;
/// `from:`, `to:` and `subject:` as phrases in their column.
fn fts5_query(q: &Query) -> Option<String> {
    let quoted = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
    let words: Vec<&str> = q.words.iter().flat_map(|w| tokens(w)).collect();
    let mut parts: Vec<String> = words.iter().map(|w| quoted(w)).collect();
    last_as_prefix(&mut parts, &words);
    for (column, values) in [("sender", &q.from), ("recipients", &q.to), ("subject", &q.subject)] {
        parts.extend(
            values
                .iter()
                .filter(|v| tokens(v).next().is_some())
                .map(|v| format!("{column} : {}", quoted(v))),
        );
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Each word piece of a search alone, as FTS5 queries: the pieces FTS5
/// splits a term into ("sender7@example.org" is the phrase "sender7
/// example org"), the last free word's last as a prefix, as in
/// [`fts5_query`]. A message that matches the search matches each, so
/// the fewest matches of any piece bounds the search's own. Counting a
/// piece is a read of one word's list; counting an address's phrase
/// reads three, two of them in every message (10 ms in a million). A
/// piece split where FTS5 would not split it only makes that bound less
/// sure, which costs speed (see `search_from`), never a match.
fn fts5_pieces(q: &Query) -> Vec<String> {
    let words: Vec<&str> = q.words.iter().flat_map(|w| tokens(w)).collect();
    let mut all: Vec<String> = words.iter().flat_map(|w| pieces(w, "")).collect();
    last_as_prefix(&mut all, &words);
    for value in q.from.iter().chain(&q.to).chain(&q.subject) {
        all.extend(tokens(value).flat_map(|w| pieces(w, "")));
    }
    all
}

/// [`fts5_pieces`] for an IMAP SEARCH text (see [`words_query`]), each
/// piece in `field`'s column.
fn words_pieces(needle: &str, field: Indexed) -> Vec<String> {
    let words = imap_words(needle);
    let column = indexed_column(field)
        .map(|(name, _)| format!("{name} : "))
        .unwrap_or_default();
    let mut all: Vec<String> = words.iter().flat_map(|w| pieces(w, &column)).collect();
    last_as_prefix(&mut all, &words);
    all
}

/// The pieces FTS5 splits a word into, each quoted, after `column`.
fn pieces<'w>(word: &'w str, column: &'w str) -> impl Iterator<Item = String> + 'w {
    word.split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(move |p| format!("{column}\"{p}\""))
}

/// Whether a search's last free word is matched as a prefix (as it is
/// typed, the user may not have finished it). Not an address or a
/// domain, which is typed whole: as a prefix its last part ("org*") would
/// match nearly every message before the phrase is checked.
fn as_prefix(word: &str) -> bool {
    !word.contains(['@', '.'])
}

/// Makes the last of `parts` (FTS5 queries) a prefix when the last of
/// the `words` they came from is one (see [`as_prefix`]).
fn last_as_prefix(parts: &mut [String], words: &[&str]) {
    if let Some(last) = parts.last_mut()
        && words.last().is_some_and(|w| as_prefix(w))
    {
        last.push('*');
    }
}

/// PostgreSQL's `to_tsquery` text for a search's words: the same, with
/// `from:`, `to:` and `subject:` as the weights their words were indexed
/// with (A, B, C).
fn tsquery(q: &Query) -> Option<String> {
    let lexeme = |w: &str| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
    let mut parts: Vec<String> = q.words.iter().flat_map(|w| tokens(w)).map(lexeme).collect();
    if let Some(last) = parts.last_mut() {
        last.push_str(":*");
    }
    for (weight, values) in [("A", &q.from), ("B", &q.to), ("C", &q.subject)] {
        for value in values {
            parts.extend(tokens(value).map(|w| format!("{}:{weight}", lexeme(w))));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" & "))
}

/// The FTS5 column of a field of the word index and the PostgreSQL
/// weight its words were indexed with (see [`insert_summary`]); `None`:
/// all of them.
fn indexed_column(field: Indexed) -> Option<(&'static str, char)> {
    match field {
        Indexed::Everywhere => None,
        Indexed::Senders => Some(("sender", 'A')),
        Indexed::Recipients => Some(("recipients", 'B')),
        Indexed::Subject => Some(("subject", 'C')),
        Indexed::Body => Some(("body", 'D')),
    }
}

/// The words of an IMAP SEARCH text the index holds (`@@` is no word).
fn imap_words(needle: &str) -> Vec<&str> {
    tokens(needle)
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect()
}

/// The index's query for an IMAP SEARCH text: every word of it in
/// `field`, the last as a prefix, as the web's search takes a free text;
/// `None` when it has no word.
fn words_query(backend: Backend, needle: &str, field: Indexed) -> Option<String> {
    let words = imap_words(needle);
    let last = words.len().checked_sub(1)?;
    let column = indexed_column(field);
    let parts: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let star = if i == last && as_prefix(w) { "*" } else { "" };
            match backend {
                Backend::Sqlite => {
                    let column = column.map(|(name, _)| format!("{name} : ")).unwrap_or_default();
                    format!("{column}\"{}\"{star}", w.replace('"', "\"\""))
                }
                Backend::Postgres => {
                    let weight = column.map(|(_, weight)| weight.to_string()).unwrap_or_default();
                    let label = format!("{star}{weight}");
                    let label = if label.is_empty() { label } else { format!(":{label}") };
                    format!("'{}'{label}", w.replace('\\', "\\\\").replace('\'', "''"))
                }
            }
        })
        .collect();
    Some(match backend {
        Backend::Sqlite => parts.join(" "),
        Backend::Postgres => parts.join(" & "),
    })
}

/// A search's conditions besides its words, as SQL on `m` and `s` (every
/// value a number written here, never text from the user).
fn filters(q: &Query, reader: Option<i64>) -> String {
    let bits = |f: SystemFlag| Flags::from(f).system_bits();
    let mut sql = String::new();
    if q.has_attachment {
        sql.push_str(" AND s.has_attachments = 1");
    }
    if q.unread {
        match reader {
            None => sql.push_str(&format!(" AND (m.system_flags & {}) = 0", bits(SystemFlag::Seen))),
            Some(_) => sql.push_str(
                " AND NOT EXISTS (SELECT 1 FROM seen_by r WHERE r.mailbox_id = m.mailbox_id \
                 AND r.uid = m.uid AND r.account_id = $2)",
            ),
        }
    }
    if q.flagged {
        sql.push_str(&format!(" AND (m.system_flags & {}) <> 0", bits(SystemFlag::Flagged)));
    }
    team_filters(q, &mut sql);
    if let Some(t) = q.before {
        sql.push_str(&format!(" AND m.internal_date < {t}"));
    }
    if let Some(t) = q.after {
        sql.push_str(&format!(" AND m.internal_date >= {t}"));
    }
    sql
}

/// A keyword among a message's stored keywords (any case), as SQL: the
/// keyword is a valid IMAP atom, quoted here as a literal with `'`
/// doubled and LIKE's wildcards escaped.
fn has_keyword(keyword: &str) -> String {
    let k = keyword
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        .replace('\'', "''");
    format!("(' ' || LOWER(m.keywords) || ' ') LIKE '% {k} %' ESCAPE '\\'")
}

/// `is:mine`, `is:unassigned` and the statuses, on the keywords that
/// say them (`mailroom_shared::team`).
fn team_filters(q: &Query, sql: &mut String) {
    use mailroom_shared::team::{ASSIGNED_PREFIX, Status};
    if q.mine {
        // No keyword (the searcher has no address): nothing is theirs.
        match &q.assigned_keyword {
            Some(k) => sql.push_str(&format!(" AND {}", has_keyword(k))),
            None => sql.push_str(" AND 1 = 0"),
        }
    }
    if q.unassigned {
        let prefix = ASSIGNED_PREFIX.to_lowercase();
        sql.push_str(&format!(" AND (' ' || LOWER(m.keywords)) NOT LIKE '% {prefix}%'"));
    }
    match q.status {
        None => {}
        Some(Status::Open) => {
            for s in [Status::Waiting, Status::Done] {
                sql.push_str(&format!(" AND NOT {}", has_keyword(s.keyword().unwrap_or_default())));
            }
        }
        Some(s) => sql.push_str(&format!(" AND {}", has_keyword(s.keyword().unwrap_or_default()))),
    }
}

/// A list query as the store runs it: built apart from running it, so
/// that [`Store::plans`] shows how the database runs the very same text.
struct ListQuery {
    sql: String,
    params: Vec<Param>,
    /// Planned by PostgreSQL for its values each time instead of prepared
    /// once: after five runs a prepared statement may get a generic plan,
    /// made without the values. A search's best plan depends on its words
    /// (a rare word from the word index, a common one along the list's
    /// index), and a page's on where its anchor is: generic plans of a
    /// page in the middle of a million messages took 0.5–2.7 s, planned
    /// for their values 3 ms.
    per_values: bool,
}

enum Param {
    Int(i64),
    Text(String),
}

impl ListQuery {
    fn new(sql: String, params: Vec<Param>) -> ListQuery {
        ListQuery {
            sql,
            params,
            per_values: true,
        }
    }

    async fn fetch(&self, store: &Store) -> Result<Vec<AnyRow>> {
        self.fetch_sql(store, self.sql.clone()).await
    }

    async fn fetch_sql(&self, store: &Store, sql: String) -> Result<Vec<AnyRow>> {
        let planned_each_time = self.per_values && store.backend == Backend::Postgres;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(!planned_each_time);
        for param in &self.params {
            query = match param {
                Param::Int(i) => query.bind(*i),
                Param::Text(t) => query.bind(t.clone()),
            };
        }
        Ok(query.fetch_all(&store.pool).await?)
    }

    /// The database's plan for this query with these values, one line per step.
    async fn plan(&self, store: &Store) -> Result<String> {
        let (sql, column) = match store.backend {
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {}", self.sql), 3),
            Backend::Postgres => (format!("EXPLAIN {}", self.sql), 0),
        };
        let rows = self.fetch_sql(store, sql).await?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(column))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }
}

/// The page `offset` messages into a mailbox's list. The page's UIDs
/// first, then their columns: PostgreSQL would otherwise compute every
/// column of the rows OFFSET skips.
fn offset_page(
    backend: Backend,
    mailbox_id: i64,
    reader: Option<i64>,
    sort: SortKey,
    offset: u32,
    limit: u32,
) -> ListQuery {
    let order = order_by(sort);
    let (join, index) = (page_join(backend), list_index(backend, sort));
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS}, m.mailbox_id FROM \
         (SELECT m.uid AS page_uid FROM messages m{index} \
          WHERE m.mailbox_id = $1 ORDER BY {order} LIMIT $3 OFFSET $4) p \
         {join} messages m ON m.mailbox_id = $1 AND m.uid = p.page_uid \
         LEFT JOIN summaries s ON s.hash = m.blob_hash ORDER BY {order}"
    );
    let params = vec![
        Param::Int(mailbox_id),
        Param::Int(reader.unwrap_or(0)),
        Param::Int(i64::from(limit)),
        Param::Int(i64::from(offset)),
    ];
    ListQuery::new(sql, params)
}

/// The `limit` messages after (or before) the anchor's in the list's
/// order. Two index ranges: the anchor's equals on the other side of its
/// UID, then the keys beyond its key; a row-value comparison cannot say
/// this where the key and the UID run in opposite directions (sender
/// A–Z, newest first among equals). Read backwards, the rows come in
/// reverse.
fn keyset_page(
    backend: Backend,
    mailbox_id: i64,
    reader: Option<i64>,
    sort: SortKey,
    anchor: Anchor,
    limit: u32,
) -> ListQuery {
    let (join, index) = (page_join(backend), list_index(backend, sort));
    let order = Order::of(sort);
    let (uid, backwards) = match anchor {
        Anchor::After(uid) => (uid, false),
        Anchor::Before(uid) => (uid, true),
    };
    let column = order.column;
    let beyond = |desc: bool| if desc != backwards { "<" } else { ">" };
    let (key_beyond, uid_beyond) = (beyond(order.descending), beyond(true));
    let uid_dir = if backwards { "ASC" } else { "DESC" };
    let by = order.by(backwards);
    let key = format!("(SELECT {column} FROM messages m WHERE m.mailbox_id = $1 AND m.uid = $4)");
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS}, m.mailbox_id FROM \
         (SELECT page_uid FROM (SELECT m.uid AS page_uid FROM messages m{index} \
           WHERE m.mailbox_id = $1 AND {column} = {key} AND m.uid {uid_beyond} $4 \
           ORDER BY m.uid {uid_dir} LIMIT $3) equal \
          UNION ALL \
          SELECT page_uid FROM (SELECT m.uid AS page_uid FROM messages m{index} \
           WHERE m.mailbox_id = $1 AND {column} {key_beyond} {key} \
           ORDER BY {by} LIMIT $3) beyond) p \
         {join} messages m ON m.mailbox_id = $1 AND m.uid = p.page_uid \
         LEFT JOIN summaries s ON s.hash = m.blob_hash ORDER BY {by} LIMIT $3"
    );
    let params = vec![
        Param::Int(mailbox_id),
        Param::Int(reader.unwrap_or(0)),
        Param::Int(i64::from(limit)),
        Param::Int(i64::from(uid)),
    ];
    ListQuery::new(sql, params)
}

/// How a page's few UIDs join their rows. On SQLite `CROSS JOIN` keeps
/// the page as the outer loop: without statistics (Mailroom runs no
/// ANALYZE but after a big import) its planner may walk the whole
/// mailbox instead, and the first page of a million messages took 70 ms,
/// not 2.
fn page_join(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CROSS JOIN",
        Backend::Postgres => "JOIN",
    }
}

/// The index of a sort, named to SQLite (`INDEXED BY`): a page is an
/// index range by design, whatever statistics the planner has or lacks.
/// PostgreSQL, whose statistics autovacuum keeps, chooses by itself.
fn list_index(backend: Backend, sort: SortKey) -> String {
    match backend {
        Backend::Sqlite => format!(" INDEXED BY messages_by_{}", sort.as_str()),
        Backend::Postgres => String::new(),
    }
}

/// A mailbox's kept counts, and `reader`'s own read marks.
fn count_query(mailbox_id: i64, reader: Option<i64>) -> ListQuery {
    let sql = "SELECT b.message_count, b.unseen_count, COALESCE((SELECT c.seen FROM seen_counts c \
               WHERE c.mailbox_id = b.id AND c.account_id = $2), 0) AS seen FROM mailboxes b WHERE b.id = $1";
    ListQuery {
        per_values: false, // one row by primary key: any plan is this plan
        ..ListQuery::new(
            sql.to_owned(),
            vec![Param::Int(mailbox_id), Param::Int(reader.unwrap_or(0))],
        )
    }
}

/// A query whose plan [`Store::plans`] shows, and what it is.
pub struct QueryPlan {
    pub query: String,
    pub plan: String,
}

impl Store {
    /// One page of a mailbox's messages with their summaries: from its
    /// anchor when it has one (an index range however deep the page),
    /// else from its offset.
    pub async fn page(
        &self,
        mailbox_id: i64,
        reader: Option<i64>,
        sort: SortKey,
        at: PageAt,
        limit: u32,
    ) -> Result<Vec<ListedMessage>> {
        if let Some(anchor) = at.anchor {
            let rows = keyset_page(self.backend, mailbox_id, reader, sort, anchor, limit)
                .fetch(self)
                .await?;
            let mut rows = rows.iter().map(listed_from).collect::<Result<Vec<_>>>()?;
            if matches!(anchor, Anchor::Before(_)) {
                rows.reverse();
            }
            // An anchor expunged meanwhile has no place in the list: the
            // page is found by its offset instead.
            if !rows.is_empty() || at.offset == 0 {
                return Ok(rows);
            }
        }
        let rows = offset_page(self.backend, mailbox_id, reader, sort, at.offset, limit)
            .fetch(self)
            .await?;
        rows.iter().map(listed_from).collect()
    }

    /// How the database runs the list's queries on this mailbox: each
    /// sort's first page, a deep page by offset and from an anchor both
    /// ways, the counts, and a search for each of `words`. What the plan
    /// tests check, and what to look at when a list is slow.
    pub async fn plans(&self, mailbox_id: i64, words: &[&str]) -> Result<Vec<QueryPlan>> {
        let anchor: Option<i64> = sqlx::query_scalar("SELECT MAX(uid) / 2 FROM messages WHERE mailbox_id = $1")
            .bind(mailbox_id)
            .fetch_one(&self.pool)
            .await?;
        let anchor = anchor.unwrap_or(1) as u32;
        let mut queries = vec![("counts".to_owned(), count_query(mailbox_id, None))];
        for sort in [SortKey::Date, SortKey::Sender, SortKey::Subject, SortKey::Size] {
            let name = sort.as_str();
            queries.extend([
                (
                    format!("{name}: first page"),
                    offset_page(self.backend, mailbox_id, None, sort, 0, 50),
                ),
                (
                    format!("{name}: page 21 by offset"),
                    offset_page(self.backend, mailbox_id, None, sort, 1000, 50),
                ),
                (
                    format!("{name}: page after UID {anchor}"),
                    keyset_page(self.backend, mailbox_id, None, sort, Anchor::After(anchor), 50),
                ),
                (
                    format!("{name}: page before UID {anchor}"),
                    keyset_page(self.backend, mailbox_id, None, sort, Anchor::Before(anchor), 50),
                ),
            ]);
            for word in words {
                let q = Query::parse(word);
                if let Some(search) = self.search_ids(&[mailbox_id], None, &q, sort, SEARCH_COUNT).await? {
                    queries.push((format!("{name}: search {word:?}"), search));
                }
            }
        }
        let mut plans = Vec::new();
        for (query, q) in queries {
            plans.push(QueryPlan {
                plan: q.plan(self).await?,
                query,
            });
        }
        Ok(plans)
    }

    /// The messages of the given mailboxes that match a search, in the
    /// order asked for, from `offset`: the page, and how many match,
    /// counted exactly up to [`SEARCH_COUNT`] (or as far as the page
    /// reaches), beyond that only "more".
    pub async fn search(
        &self,
        mailboxes: &[i64],
        reader: Option<i64>,
        q: &Query,
        sort: SortKey,
        offset: u32,
        limit: u32,
    ) -> Result<Found> {
        // One pass finds the matches in order, up to the count's cap; the
        // page is a slice of them, and its columns a second, short read.
        let enough = SEARCH_COUNT.max(offset.saturating_add(limit));
        let Some(search) = self.search_ids(mailboxes, reader, q, sort, enough).await? else {
            return Ok(Found::default());
        };
        let ids = search
            .fetch(self)
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("page_box")?, r.try_get::<i64, _>("page_uid")?)))
            .collect::<Result<Vec<_>>>()?;
        let more = ids.len() > enough as usize;
        let total = ids.len().min(enough as usize) as u32;
        let page: Vec<_> = ids.into_iter().skip(offset as usize).take(limit as usize).collect();
        let rows = self.listed(&page, reader).await?;
        Ok(Found { total, more, rows })
    }

    /// The first `enough` + 1 matches of a search, in order (mailbox and
    /// UID); `None` when it can match nothing.
    async fn search_ids(
        &self,
        mailboxes: &[i64],
        reader: Option<i64>,
        q: &Query,
        sort: SortKey,
        enough: u32,
    ) -> Result<Option<ListQuery>> {
        if mailboxes.is_empty() {
            return Ok(None);
        }
        let text = match self.backend {
            Backend::Sqlite => fts5_query(q),
            Backend::Postgres => tsquery(q),
        };
        if text.is_none() && q.has_text() {
            return Ok(None); // words, but none the index could hold
        }
        let text = text.unwrap_or_default();
        let from = self.search_from(mailboxes, sort, &text, q).await?;
        let sql = format!(
            "SELECT m.mailbox_id AS page_box, m.uid AS page_uid {from}{} AND $2 = $2 ORDER BY {} LIMIT $3",
            filters(q, reader),
            order_by(sort)
        );
        let params = vec![
            Param::Text(text),
            Param::Int(reader.unwrap_or(0)),
            Param::Int(i64::from(enough) + 1),
        ];
        Ok(Some(ListQuery::new(sql, params)))
    }

    /// Where a search's matches come from (`FROM … WHERE …`, `$1` the
    /// words as the index takes them). Driven from the word index when
    /// there are words: a rare word touches a handful of rows, not the
    /// whole mailbox.
    async fn search_from(&self, mailboxes: &[i64], sort: SortKey, text: &str, q: &Query) -> Result<String> {
        let ids: Vec<String> = mailboxes.iter().map(i64::to_string).collect();
        let ids = ids.join(", ");
        if text.is_empty() {
            return Ok(format!(
                "FROM messages m LEFT JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id IN ({ids}) AND $1 = $1"
            ));
        }
        if self.backend == Backend::Postgres {
            // PostgreSQL weighs the word index against walking the list's
            // index by itself, given the words (see `persistent` above).
            return Ok(format!(
                "FROM messages m JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id IN ({ids}) AND s.words @@ to_tsquery('simple', $1)"
            ));
        }
        // SQLite: from the word index, or along the list's index keeping
        // the messages whose words match, whichever reads fewer rows: a
        // word in a tenth of a million messages is 100,000 matches to
        // join and sort, but only ten messages walked per match found.
        // CROSS JOIN keeps the written order, and the unary `+` stops
        // SQLite reaching the messages through the mailbox's primary key
        // (every message of the mailbox per match) instead of the blob index.
        let from_words = format!(
            "FROM message_text t CROSS JOIN summaries s ON s.rowid = t.rowid \
             CROSS JOIN messages m ON m.blob_hash = s.hash \
             WHERE message_text MATCH $1 AND +m.mailbox_id IN ({ids})"
        );
        let [mailbox] = mailboxes else {
            return Ok(from_words); // several mailboxes: no one index is in the list's order
        };
        let (size, _) = self.count(*mailbox, None).await?;
        // Counted up to where the walk wins: first each piece of the
        // search alone, then (when it has several) the search itself,
        // unless its rarest piece already rules the walk out.
        let (size, pieces, whole) = (i64::from(size), fts5_pieces(q), [text.to_owned()]);
        let cap = walk_threshold(size);
        if !walk_is_cheaper(self.count_words(&pieces, cap).await?, size)
            || (pieces != whole && !walk_is_cheaper(self.count_words(&whole, cap).await?, size))
        {
            return Ok(from_words);
        }
        let index = match sort {
            SortKey::Date => "messages_by_date",
            SortKey::Sender => "messages_by_sender",
            SortKey::Subject => "messages_by_subject",
            SortKey::Size => "messages_by_size",
        };
        // Each message's summary rowid is in the list's index (migration
        // 16): the walk reads the index alone, and only the matches reach
        // their summaries (for the filters that ask them), by rowid. By
        // content hash, a table row and a text key per message walked,
        // that walk took 26 ms more in a million messages.
        Ok(format!(
            "FROM messages m INDEXED BY {index} CROSS JOIN summaries s ON s.rowid = m.summary_id \
             WHERE m.mailbox_id = {mailbox} \
             AND m.summary_id IN (SELECT rowid FROM message_text WHERE message_text MATCH $1)"
        ))
    }

    /// SQLite: the fewest matches of any of these FTS5 queries, each
    /// counted up to `cap`, in one statement.
    async fn count_words(&self, queries: &[String], cap: i64) -> Result<i64> {
        if queries.is_empty() {
            return Ok(0);
        }
        let counts: Vec<String> = (2..=queries.len() + 1)
            .map(|i| {
                format!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM message_text WHERE message_text MATCH ${i} LIMIT $1)")
            })
            .collect();
        let sql = format!("SELECT MIN(n) FROM ({})", counts.join(" UNION ALL "));
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(cap);
        for q in queries {
            query = query.bind(q.as_str());
        }
        Ok(query.fetch_one(&self.pool).await?)
    }

    /// The UIDs of a mailbox's messages whose indexed words in `field`
    /// hold every word of `needle`, the last as a prefix: IMAP SEARCH in
    /// a big mailbox. `among`: only these UIDs. `None` when `needle` has
    /// no word the index holds.
    pub async fn uids_with_words(
        &self,
        mailbox_id: i64,
        needle: &str,
        field: Indexed,
        among: Option<&[u32]>,
    ) -> Result<Option<Vec<u32>>> {
        let Some(text) = words_query(self.backend, needle, field) else {
            return Ok(None);
        };
        let whole = among.is_none();
        let read_through = whole && self.backend == Backend::Sqlite && {
            let size = i64::from(self.count(mailbox_id, None).await?.0);
            let from = read_through_from(size);
            // Each piece alone first, as the web's search decides (an
            // address's phrase takes 10 ms to count in a million).
            let pieces = words_pieces(needle, field);
            let whole = std::slice::from_ref(&text);
            size >= from
                && self.count_words(&pieces, from).await? >= from
                && (pieces == whole || self.count_words(whole, from).await? >= from)
        };
        let among = among
            .map(|uids| format!(" AND m.uid IN ({})", uid_list(uids)))
            .unwrap_or_default();
        // From the word index to the messages with that content (the
        // blob index), as the web's search does; the unary `+` keeps
        // SQLite from walking the whole mailbox by its primary key. Or,
        // for a common word on SQLite, the mailbox's list index read
        // through, its entries kept where their summary matches.
        let sql = match self.backend {
            Backend::Sqlite if read_through => "SELECT m.uid FROM messages m INDEXED BY messages_by_date \
                 WHERE m.mailbox_id = $2 AND m.summary_id IN (SELECT rowid FROM message_text WHERE message_text MATCH $1)"
                .to_owned(),
            Backend::Sqlite => format!(
                "SELECT m.uid FROM message_text t CROSS JOIN summaries s ON s.rowid = t.rowid \
                 CROSS JOIN messages m ON m.blob_hash = s.hash \
                 WHERE message_text MATCH $1 AND +m.mailbox_id = $2{among}"
            ),
            Backend::Postgres => format!(
                "SELECT m.uid FROM messages m JOIN summaries s ON s.hash = m.blob_hash \
                 WHERE m.mailbox_id = $2 AND s.words @@ to_tsquery('simple', $1){among}"
            ),
        };
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            // Planned for its words on PostgreSQL (a rare word from the
            // word index, a common one maybe not); kept prepared on SQLite
            // unless its UIDs make it one of a kind.
            .persistent(self.backend == Backend::Sqlite && whole)
            .bind(text)
            .bind(mailbox_id)
            .fetch(&self.pool);
        // Taken as they come: a word in every message of a million is a
        // million UIDs, not a million result rows held besides.
        let mut uids = Vec::new();
        while let Some(uid) = rows.try_next().await? {
            uids.push(uid as u32);
        }
        Ok(Some(uids))
    }

    /// The list rows of these messages (mailbox, UID), in the order given.
    async fn listed(&self, ids: &[(i64, i64)], reader: Option<i64>) -> Result<Vec<ListedMessage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Numbers read from the store, written into the SQL as numbers,
        // one primary-key range per mailbox.
        let mut by_mailbox: Vec<(i64, Vec<String>)> = Vec::new();
        for &(mailbox, uid) in ids {
            match by_mailbox.iter_mut().find(|(b, _)| *b == mailbox) {
                Some((_, uids)) => uids.push(uid.to_string()),
                None => by_mailbox.push((mailbox, vec![uid.to_string()])),
            }
        }
        let wanted: Vec<String> = by_mailbox
            .iter()
            .map(|(b, uids)| format!("(m.mailbox_id = {b} AND m.uid IN ({}))", uids.join(", ")))
            .collect();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS}, {SUMMARY_COLUMNS}, m.mailbox_id FROM messages m \
             LEFT JOIN summaries s ON s.hash = m.blob_hash WHERE $1 = $1 AND ({})",
            wanted.join(" OR ")
        );
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(0i64)
            .bind(reader.unwrap_or(0))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(listed_from)
            .collect::<Result<Vec<_>>>()?;
        let place = |l: &ListedMessage| {
            ids.iter()
                .position(|&(b, u)| b == l.mailbox_id && u == i64::from(l.row.uid))
        };
        rows.sort_by_key(place);
        Ok(rows)
    }

    /// How many messages a mailbox holds and how many of them `reader`
    /// (or everyone, in a shared-seen mailbox) has not seen: counters
    /// the store's triggers keep (migration 15), one row read.
    pub async fn count(&self, mailbox_id: i64, reader: Option<i64>) -> Result<(u32, u32)> {
        let rows = count_query(mailbox_id, reader).fetch(self).await?;
        let row = rows.first();
        let Some(row) = row else {
            return Ok((0, 0));
        };
        let total: i64 = row.try_get("message_count")?;
        let unseen: i64 = match reader {
            None => row.try_get("unseen_count")?,
            Some(_) => total - row.try_get::<i64, _>("seen")?,
        };
        Ok((total.max(0) as u32, unseen.clamp(0, total.max(0)) as u32))
    }

    /// Content stored before summaries existed (up to `limit` hashes).
    pub async fn unsummarised(&self, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT b.hash FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.hash = b.hash) LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds the summary of already stored content.
    pub async fn add_summary(&self, hash: &str, summary: &Summary) -> Result<()> {
        let (_turn, mut tx) = self.write().await?;
        insert_summary(&mut tx, self, hash, summary, None).await?;
        // The messages that hold it were stored without the sort keys
        // that come from it, and on SQLite without its rowid (migration
        // 16), which a walking search looks for.
        let summary_id = match self.backend {
            Backend::Sqlite => ", summary_id = s.rowid",
            Backend::Postgres => "",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE messages SET sort_sender = LOWER(SUBSTR(s.sender, 1, 64)), \
             sort_subject = LOWER(SUBSTR(s.subject, 1, 64)){summary_id} \
             FROM summaries s WHERE s.hash = $1 AND messages.blob_hash = $1"
        )))
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A server-wide setting, created with `make` on first use (by
    /// whichever node comes first).
    pub async fn setting_or_insert(&self, name: &str, make: impl FnOnce() -> String) -> Result<String> {
        let candidate = make();
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate.as_str())
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Starts a web session; the account's expired ones go at the same
    /// time (sign-ins are what makes them, so they never pile up).
    pub async fn insert_web_session(&self, id: &str, account_id: i64, created: i64, expires: i64) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE account_id = $1 AND expires_at <= $2")
            .bind(account_id)
            .bind(created)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO web_sessions (id, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(account_id)
            .bind(created)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many web sessions the account has, live or expired.
    pub async fn web_sessions_of(&self, account_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM web_sessions WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The account of a live web session, and the time zone it chose
    /// (empty: none), in one read: every request asks.
    pub async fn web_session_account(&self, id: &str, now: i64) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT w.account_id, COALESCE(s.time_zone, '') AS time_zone FROM web_sessions w \
             LEFT JOIN account_settings s ON s.account_id = w.account_id WHERE w.id = $1 AND w.expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("account_id")?, r.try_get("time_zone")?)))
            .transpose()
    }

    pub async fn delete_web_session(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Backend, Indexed, Query, fts5_pieces, fts5_query, tsquery, walk_is_cheaper, walk_threshold, words_pieces,
        words_query,
    };

    fn fts(text: &str) -> Option<String> {
        fts5_query(&Query::parse(text))
    }

    #[test]
    fn search_words_are_quoted() {
        assert_eq!(
            fts("budget NEAR(x\" OR y)").as_deref(),
            Some("\"budget\" \"NEAR\" \"x\" \"OR\" \"y\"*")
        );
        assert_eq!(fts("  ;; "), None);
        assert_eq!(
            fts("bob@example.com").as_deref(),
            Some("\"bob@example.com\""),
            "an address is not a prefix"
        );
    }

    #[test]
    fn a_search_splits_into_the_pieces_the_index_holds() {
        let pieces = |text: &str| fts5_pieces(&Query::parse(text));
        assert_eq!(pieces("budget"), ["\"budget\"*"]);
        assert_eq!(fts("budget").unwrap(), "\"budget\"*", "one piece is the search itself");
        assert_eq!(
            pieces("sender7@example.org"),
            ["\"sender7\"", "\"example\"", "\"org\""],
            "an address is not a prefix"
        );
        assert_eq!(
            pieces("from:dave@example.org old-re"),
            ["\"old\"", "\"re\"*", "\"dave\"", "\"example\"", "\"org\""]
        );
        assert_eq!(pieces("x\" OR y"), ["\"x\"", "\"OR\"", "\"y\"*"], "quotes are no piece");
        assert!(pieces(" ;; ").is_empty());
        // IMAP SEARCH's, in the field's column.
        assert_eq!(
            words_pieces("sender7@example.org", Indexed::Senders),
            ["sender : \"sender7\"", "sender : \"example\"", "sender : \"org\""]
        );
        assert_eq!(
            words_pieces("budget", Indexed::Body),
            [words_query(Backend::Sqlite, "budget", Indexed::Body).unwrap()],
            "one piece is the query itself"
        );
        assert_eq!(
            words_pieces("old-re budg", Indexed::Everywhere),
            ["\"old\"", "\"re\"", "\"budg\"*"]
        );
        assert!(words_pieces("@@", Indexed::Everywhere).is_empty());
    }

    #[test]
    fn counting_matches_stops_where_the_walk_wins() {
        for size in [0, 10, 5_000, 100_000, 1_000_000, 7_654_321] {
            let t = walk_threshold(size);
            assert!(walk_is_cheaper(t, size), "{size}: {t}");
            assert!(!walk_is_cheaper(t - 1, size), "{size}: {t} is not the fewest");
        }
        assert_eq!(walk_threshold(1_000_000), 15_812);
        // What the capped count decides is what the whole count decided.
        for size in [5_000, 100_000, 1_000_000] {
            let t = walk_threshold(size);
            for matches in (0..4 * t).step_by(97) {
                assert_eq!(walk_is_cheaper(matches.min(t), size), walk_is_cheaper(matches, size));
            }
        }
    }

    #[test]
    fn the_index_gets_each_word_once_in_order() {
        assert_eq!(
            super::distinct_words("Budget  review\r\nbudget, budget Budget review\tfoo-bar foo-bar"),
            "Budget review budget, budget foo-bar"
        );
        let long = "word ".repeat(100_000) + &(0..100_000).map(|i| format!("w{i} ")).collect::<String>();
        let kept = super::distinct_words(&long);
        assert!(kept.len() > 199_000 && kept.len() <= 200_000, "{}", kept.len());
        assert!(kept.starts_with("word w0 w1 "), "{}", &kept[..20]);
    }

    #[test]
    fn fields_are_columns_and_weights() {
        assert_eq!(
            fts("plan from:\"Carol Jones\" subject:Q3").as_deref(),
            Some("\"plan\"* sender : \"Carol Jones\" subject : \"Q3\"")
        );
        assert_eq!(
            tsquery(&Query::parse("plan to:bob@example.com from:o'brien")).as_deref(),
            Some("'plan':* & 'o':A & 'brien':A & 'bob@example.com':B")
        );
        assert_eq!(fts("has:attachment"), None, "no words: no index lookup");
    }

    #[test]
    fn imap_search_texts_are_words_in_their_field() {
        let sqlite = |t: &str, f| words_query(Backend::Sqlite, t, f);
        let postgres = |t: &str, f| words_query(Backend::Postgres, t, f);
        assert_eq!(
            sqlite("Zeppelin fl\"ight", Indexed::Body).as_deref(),
            Some("body : \"Zeppelin\" body : \"fl\" body : \"ight\"*"),
            "a quote parts words, as any other mark"
        );
        assert_eq!(sqlite("zepp", Indexed::Everywhere).as_deref(), Some("\"zepp\"*"));
        assert_eq!(
            postgres("Sender7@example.org", Indexed::Senders).as_deref(),
            Some("'Sender7@example.org':A"),
            "an address is not a prefix"
        );
        assert_eq!(
            postgres("q3 bud", Indexed::Subject).as_deref(),
            Some("'q3':C & 'bud':*C")
        );
        assert_eq!(postgres("bud", Indexed::Everywhere).as_deref(), Some("'bud':*"));
        assert_eq!(sqlite(" @@ -- ", Indexed::Body), None, "no word: every message is read");
    }
}
