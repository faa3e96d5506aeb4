//! The selected state: one session's view of one mailbox — its message
//! sequence numbers, the flags the client was told — and the commands that
//! work on it (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE).
//!
//! At the end of every command the view is brought up to date from the
//! committed change log (see [`crate::service::Watch::refresh`]), so
//! whatever another session's finished command changed is reported by
//! this session's next command. Changes wait in `pending` until a point
//! where RFC 3501 §7.4.1 lets the server report them: new messages and
//! flag changes after any command, expunges never during FETCH, STORE or
//! SEARCH (so sequence numbers hold still while a client uses them).
//!
//! A session applies its own changes at once, and the log brings them
//! back later. Each message remembers the MODSEQ of the state it shows,
//! and a flag change no newer than that is old news: neither an echo of
//! the session's own change nor an older state is ever reported.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use mailroom_shared::dto::SeenMode;
use mailroom_shared::{FlagOp, Flags, Right, SystemFlag};
use tokio::io::AsyncWriteExt;

use super::command::{FetchItem, Qresync, Section, SectionText};
use super::mime;
use super::response;
use super::search::{Candidate, Key};
use super::session::{Failure, Outcome, try_create};
use super::sort::{self, Criterion, Sortable};
use super::syntax::{Bound, SequenceSet};
use super::thread::{self, Threadable};
use crate::gateway::Stream;
use crate::limits;
use crate::service::{Change, ChangeKind};
use crate::service::{ChangedFlags, FlagRow, FlagRows, MessageMeta};
use crate::service::{Here, Opened, Principal, Service, Watch};
use mailroom_shared::team::Doing;

/// Messages read from the store at a time by FETCH and SEARCH.
const BATCH: usize = 64;

/// Up to this many messages' rows are read by their UIDs, more with the
/// whole mailbox's (see [`Selected::rows_of`]).
const FEW_ROWS: usize = 1_000;

/// The most text keys of one SEARCH the word index answers, and the most
/// UIDs such a search names (see [`Selected::indexed`]).
const INDEXED_KEYS: usize = 16;
const INDEXED_AMONG: usize = 500;

/// A search the client asked to keep up to date (RFC 5267 UPDATE).
struct Update {
    tag: String,
    uid: bool,
    key: Key,
    /// The UIDs it found, as last reported.
    results: BTreeSet<u32>,
    /// For a SORT: its criteria and the UIDs in its order.
    sort: Option<(Vec<Criterion>, Vec<u32>)>,
}

/// A STORE's arguments.
pub struct StoreArgs<'a> {
    pub set: &'a SequenceSet,
    pub uid: bool,
    pub op: FlagOp,
    pub silent: bool,
    pub flags: &'a Flags,
    pub unchanged_since: Option<u64>,
}

/// A SORT's arguments.
pub struct SortArgs<'a> {
    pub tag: &'a str,
    pub uid: bool,
    pub criteria: &'a [Criterion],
    pub key: &'a Key,
    pub returns: Option<&'a [String]>,
}

/// What a command on the selected mailbox works with.
pub struct Cx<'a> {
    pub service: &'a Service,
    pub p: &'a Principal,
    pub out: &'a mut Vec<u8>,
    /// The client's connection: a long response (FETCH of many bodies)
    /// is written out as it is made rather than held whole.
    pub io: &'a mut Stream,
}

/// Writes what `out` holds to the client once it is long, so a response
/// of any length takes a bounded amount of memory.
async fn spill(io: &mut Stream, out: &mut Vec<u8>) -> Result<(), Failure> {
    if out.len() < limits::SPILL_AT {
        return Ok(());
    }
    io.write_all(out)
        .await
        .map_err(|e| Failure::Bye(format!("The connection failed: {e}")))?;
    out.clear();
    Ok(())
}

/// The UIDs that are `\Recent` for a session (RFC 3501 §2.3.2): the
/// ranges it claimed, in UID order. Kept beside the messages, not in
/// them, so the session's view shares its rows with the node's kept view
/// of a big mailbox (see [`FlagRows`]).
#[derive(Debug, Default)]
struct Recent(Vec<std::ops::Range<u32>>);

impl Recent {
    fn contains(&self, uid: u32) -> bool {
        // Sorted and apart: the one range that may hold it is the last
        // that starts at or below it (sessions that claim in turn leave
        // many ranges, and this is asked for each message FETCH shows).
        let after = self.0.partition_point(|r| r.start <= uid);
        after > 0 && self.0[after - 1].contains(&uid)
    }

    /// Adds the UIDs of a claim (or a look).
    fn add(&mut self, claim: std::ops::Range<u32>) {
        if claim.is_empty() {
            return;
        }
        // A look (EXAMINE) may see again what it saw before: merged.
        self.0.push(claim);
        self.0.sort_unstable_by_key(|r| r.start);
        let mut merged: Vec<std::ops::Range<u32>> = Vec::with_capacity(self.0.len());
        for r in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.0 = merged;
    }

    /// How many of `messages` are recent.
    fn count(&self, messages: &FlagRows) -> usize {
        self.0
            .iter()
            .map(|r| index_from(messages, r.end) - index_from(messages, r.start))
            .sum()
    }
}

/// What SELECT tells of all of a mailbox's messages.
struct Survey {
    highest_modseq: u64,
    keywords: BTreeSet<String>,
    /// The index of the first message without `\Seen`.
    first_unseen: Option<usize>,
}

impl Survey {
    /// One pass over the messages' chunks: the persistent vector's own
    /// iterator, one message at a time, took 20 ms for a million.
    fn of(messages: &FlagRows) -> Survey {
        let mut survey = Survey {
            highest_modseq: 0,
            keywords: BTreeSet::new(),
            first_unseen: None,
        };
        let mut at = 0;
        for chunk in messages.leaves() {
            for (i, m) in chunk.iter().enumerate() {
                survey.highest_modseq = survey.highest_modseq.max(m.modseq);
                if survey.first_unseen.is_none() && !m.flags.contains(SystemFlag::Seen) {
                    survey.first_unseen = Some(at + i);
                }
                for k in m.flags.keywords() {
                    if !survey.keywords.contains(k) {
                        survey.keywords.insert(k.to_owned());
                    }
                }
            }
            at += chunk.len();
        }
        survey
    }
}

/// The index of the first of `messages` whose UID is `uid` or above.
fn index_from(messages: &FlagRows, uid: u32) -> usize {
    messages
        .binary_search_by(|m| if m.uid < uid { Ordering::Less } else { Ordering::Greater })
        .unwrap_or_else(|i| i)
}

pub struct Selected {
    /// The name as the client wrote it.
    pub name: String,
    /// The mailbox as the service resolved it: commands on it skip the
    /// lookups (the service re-resolves it when rights or names change).
    handle: Opened,
    /// The session shown as present in a shared mailbox (while selected).
    _here: Option<Here>,
    pub read_only: bool,
    per_user_seen: bool,
    /// Sequence number − 1 → the message as last reported.
    messages: FlagRows,
    recent: Recent,
    /// How many messages the client was told exist.
    announced: usize,
    /// The keywords the client was told of in `* FLAGS`.
    keywords: BTreeSet<String>,
    /// The UIDs below this one were claimed by (or before) this session.
    claimed_upto: u32,
    /// The change-log id of the last change the view took in: messages
    /// expunged after it may still be shown, and fetched (RFC 2180 §4.1.1).
    applied_log_id: i64,
    /// Searches kept up to date (RFC 5267 UPDATE), and the UIDs whose
    /// flags changed or that arrived since they were last brought up to
    /// date.
    updates: Vec<Update>,
    dirty: BTreeSet<u32>,
    /// RFC 7162 turned on: flag changes carry MODSEQ; with QRESYNC,
    /// expunges are reported as VANISHED.
    pub condstore: bool,
    pub qresync: bool,
    watch: Watch,
    pending: VecDeque<Change>,
    /// From how many messages SEARCH's text keys use the word index
    /// (the gateway's [`super::server::Config::indexed_search_from`]).
    pub indexed_search_from: usize,
}

impl Selected {
    /// SELECT or EXAMINE: watches the mailbox first, then reads it, so no
    /// change falls between the two; writes the untagged responses.
    /// `kept`: the same mailbox, selected until now.
    pub(crate) async fn open(
        service: &Service,
        p: &Principal,
        name: &str,
        examine: bool,
        out: &mut Vec<u8>,
        kept: Option<Selected>,
    ) -> Result<Selected, Failure> {
        let (handle, watch, messages, mut recent, applied_log_id, claimed_upto, here) = match kept {
            // The session's view, brought up to date by its watch, is the
            // mailbox as it is now: its list need not be read again —
            // unless rights or names changed meanwhile.
            Some(mut old) if service.is_current(&old.handle) => {
                let missed = service.reselect(&mut old.handle, &mut old.watch).await?;
                old.pending.extend(missed);
                old.apply_pending(&mut Vec::new(), true).map_err(Failure::No)?;
                let claimed = if examine { 0 } else { old.claimed_upto };
                (
                    old.handle,
                    old.watch,
                    old.messages,
                    old.recent,
                    old.applied_log_id,
                    claimed,
                    old._here,
                )
            }
            kept => {
                let (handle, watch, messages) = service.select(p, name, kept.map(|s| s.handle)).await?;
                let applied = watch.last_log_id();
                // Not shown as present is no reason to refuse the SELECT.
                let here = service.be_present(&handle, Doing::Open).await.unwrap_or(None);
                (handle, watch, messages, Recent::default(), applied, 0, here)
            }
        };
        let info = handle.info();
        let may_change = [Right::Seen, Right::Write, Right::DeleteMessage, Right::Expunge]
            .iter()
            .any(|r| info.rights.contains(*r));
        let read_only = examine || !may_change;
        // EXAMINE shows what is recent without taking it (RFC 3501 §6.3.2).
        // A mailbox selected again whose messages this session claimed
        // already needs no second look. The claim covers every message
        // the session shows: one delivered after the mailbox was opened
        // but before its messages were read is among them, beyond the
        // UIDNEXT it was opened with (left out, it was shown \Recent here
        // unclaimed, and claimed by another session too).
        let upto = messages.last().map_or(0, |m| m.uid.saturating_add(1)).max(info.uidnext);
        if claimed_upto < upto {
            let first = service.claim_recent(&handle, upto, !read_only).await?;
            recent.add(first..upto);
        }
        let mut selected = Selected {
            name: name.to_owned(),
            handle,
            _here: here,
            read_only,
            per_user_seen: info.seen_mode == SeenMode::PerUser,
            announced: messages.len(),
            keywords: BTreeSet::new(),
            claimed_upto: if read_only { 0 } else { upto },
            applied_log_id,
            updates: Vec::new(),
            dirty: BTreeSet::new(),
            condstore: false,
            qresync: false,
            messages,
            recent,
            watch,
            pending: VecDeque::new(),
            indexed_search_from: super::server::INDEXED_SEARCH_FROM,
        };
        let survey = Survey::of(&selected.messages);
        selected.keywords = survey.keywords;
        selected.write_flag_lists(out);
        let recent = selected.recent.count(&selected.messages);
        let mut lines = vec![
            format!("* {} EXISTS", selected.messages.len()),
            format!("* {recent} RECENT"),
        ];
        if let Some(i) = survey.first_unseen {
            lines.push(format!("* OK [UNSEEN {}] First unseen", i + 1));
        }
        lines.push(format!("* OK [UIDVALIDITY {}] UIDs valid", info.uidvalidity));
        lines.push(format!("* OK [UIDNEXT {}] Predicted next UID", info.uidnext));
        let highest = selected.known_highest_modseq(survey.highest_modseq);
        lines.push(format!("* OK [HIGHESTMODSEQ {highest}] Highest"));
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(selected)
    }

    /// `* FLAGS` and PERMANENTFLAGS, with the keywords the client knows.
    fn write_flag_lists(&self, out: &mut Vec<u8>) {
        let rights = self.handle.info().rights;
        let keywords = self.keywords.iter().map(|k| format!(" {k}")).collect::<String>();
        let mut permanent = Vec::new();
        if !self.read_only {
            if rights.contains(Right::Write) {
                permanent.extend(["\\Answered", "\\Flagged", "\\Draft"]);
            }
            if rights.contains(Right::DeleteMessage) {
                permanent.push("\\Deleted");
            }
            if rights.contains(Right::Seen) {
                permanent.push("\\Seen");
            }
            if rights.contains(Right::Write) {
                permanent.extend(self.keywords.iter().map(String::as_str));
                permanent.push("\\*");
            }
        }
        let text = format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{keywords})\r\n\
             * OK [PERMANENTFLAGS ({})] Flags you can change\r\n",
            permanent.join(" ")
        );
        out.extend_from_slice(text.as_bytes());
    }

    /// [`Selected::learn_keywords`] for the flags of message `index`; most
    /// carry no new keyword, and those cost no copy.
    fn learn_keywords_of(&mut self, out: &mut Vec<u8>, index: usize) {
        if self.messages[index]
            .flags
            .keywords()
            .any(|k| !self.keywords.contains(k))
        {
            let flags = self.messages[index].flags.clone();
            self.learn_keywords(out, &flags);
        }
    }

    /// Before flags carrying a keyword new to the client go out: `* FLAGS`
    /// again, with it (RFC 3501 §7.2.6).
    fn learn_keywords(&mut self, out: &mut Vec<u8>, flags: &Flags) {
        let mut new = false;
        for k in flags.keywords() {
            if !self.keywords.contains(k) {
                self.keywords.insert(k.to_owned());
                new = true;
            }
        }
        if new {
            self.write_flag_lists(out);
        }
    }

    pub fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }

    fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Tells the client of messages it does not know of yet (and how many
    /// are `\Recent` now).
    fn announce(&mut self, out: &mut Vec<u8>) {
        if self.messages.len() > self.announced {
            self.announced = self.messages.len();
            let recent = self.recent.count(&self.messages);
            out.extend_from_slice(format!("* {} EXISTS\r\n* {recent} RECENT\r\n", self.announced).as_bytes());
        }
    }

    /// Claims `\Recent` for the new messages among `pending` (read-only
    /// sessions only look): the first session to learn of a message has it.
    async fn claim_recent(&mut self, service: &Service) -> Result<(), String> {
        let newest = self
            .pending
            .iter()
            .filter_map(|c| match &c.kind {
                ChangeKind::Added(list) => list.iter().map(|(uid, _)| *uid).max(),
                _ => None,
            })
            .max();
        if let Some(newest) = newest {
            let upto = newest.saturating_add(1);
            let first = service
                .claim_recent(&self.handle, upto, !self.read_only)
                .await
                .map_err(|e| e.to_string())?;
            self.recent.add(first..upto);
            if !self.read_only {
                self.claimed_upto = self.claimed_upto.max(upto);
            }
        }
        Ok(())
    }

    fn fetch_flags(&mut self, out: &mut Vec<u8>, index: usize) {
        self.learn_keywords_of(out, index);
        let m = &self.messages[index];
        let mut line = format!("* {} FETCH (UID {} FLAGS ", index + 1, m.uid).into_bytes();
        write_flags(&mut line, &m.flags, self.recent.contains(m.uid));
        if self.condstore {
            line.extend_from_slice(format!(" MODSEQ ({})", m.modseq).as_bytes());
        }
        line.extend_from_slice(b")\r\n");
        out.extend_from_slice(&line);
    }

    /// Takes expunged messages out of the view and tells the client:
    /// `* n EXPUNGE` each, or one `* VANISHED` once QRESYNC is on.
    fn expunged(&mut self, out: &mut Vec<u8>, uids: impl IntoIterator<Item = u32>) {
        let uids: Vec<u32> = uids.into_iter().collect();
        self.remove_from_updates(out, &uids);
        let mut gone = Vec::new();
        for uid in uids {
            if let Some(i) = self.position(uid) {
                self.messages.remove(i);
                self.announced -= 1;
                if !self.qresync {
                    out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                }
                gone.push(uid);
            }
        }
        if self.qresync && !gone.is_empty() {
            gone.sort_unstable();
            out.extend_from_slice(format!("* VANISHED {}\r\n", uid_set(&gone)).as_bytes());
        }
    }

    /// REMOVEFROM for updating searches that held messages about to be
    /// expunged, sent before the EXPUNGEs while their numbers still hold.
    fn remove_from_updates(&mut self, out: &mut Vec<u8>, uids: &[u32]) {
        for update in &mut self.updates {
            let mut removed: Vec<u32> = uids.iter().copied().filter(|u| update.results.contains(u)).collect();
            if removed.is_empty() {
                continue;
            }
            removed.sort_unstable();
            let position = update.results.range(..removed[0]).count() + 1;
            let mut numbers: Vec<u32> = removed
                .iter()
                .map(
                    |&uid| match (update.uid, self.messages.binary_search_by_key(&uid, |m| m.uid)) {
                        (false, Ok(i)) => i as u32 + 1,
                        _ => uid,
                    },
                )
                .collect();
            numbers.sort_unstable();
            for uid in &removed {
                update.results.remove(uid);
            }
            if let Some((_, order)) = &mut update.sort {
                order.retain(|u| !removed.contains(u));
            }
            let line = format!(
                "{} REMOVEFROM ({position} {})\r\n",
                esearch_prefix(&update.tag, update.uid),
                uid_set(&numbers)
            );
            out.extend_from_slice(line.as_bytes());
        }
    }

    /// CANCELUPDATE: forgets the updating searches of these tags.
    pub fn cancel_updates(&mut self, tags: &[String]) -> Outcome {
        if let Some(unknown) = tags.iter().find(|t| !self.updates.iter().any(|u| &u.tag == *t)) {
            return Err(Failure::Bad(format!("no search of tag {unknown} is updated")));
        }
        self.updates.retain(|u| !tags.contains(&u.tag));
        Ok("CANCELUPDATE completed".into())
    }

    /// Tells the client how the results of its updating searches changed
    /// with what the view took in since they were last told (RFC 5267
    /// ADDTO and REMOVEFROM, with the position of the first change).
    pub async fn report_updates(&mut self, service: &Service, out: &mut Vec<u8>) -> Result<(), Failure> {
        let dirty = std::mem::take(&mut self.dirty);
        if self.updates.is_empty() || dirty.is_empty() {
            return Ok(());
        }
        let among: Vec<usize> = dirty
            .iter()
            .filter_map(|&uid| self.position(uid))
            .filter(|&i| i < self.announced)
            .collect();
        let mut updates = std::mem::take(&mut self.updates);
        for update in &mut updates {
            if update.sort.is_some() {
                self.report_sort_update(service, out, update).await?;
                continue;
            }
            let (found, _) = self.matching_among(service, &update.key, &among, false).await?;
            let matched: HashSet<u32> = found.iter().map(|&i| self.messages[i].uid).collect();
            let number = |uid: u32, seq: u32| if update.uid { uid } else { seq };
            let old: Vec<u32> = update.results.iter().copied().collect();
            let mut removed: Vec<(u32, u32)> = Vec::new();
            for &i in &among {
                let uid = self.messages[i].uid;
                if update.results.contains(&uid) && !matched.contains(&uid) {
                    removed.push((uid, i as u32 + 1));
                }
            }
            let mut added: Vec<(u32, u32)> = among
                .iter()
                .map(|&i| (self.messages[i].uid, i as u32 + 1))
                .filter(|(uid, _)| matched.contains(uid) && !update.results.contains(uid))
                .collect();
            let prefix = esearch_prefix(&update.tag, update.uid);
            if !removed.is_empty() {
                removed.sort_unstable();
                let position = old.partition_point(|&u| u < removed[0].0) + 1;
                let mut numbers: Vec<u32> = removed.iter().map(|&(u, s)| number(u, s)).collect();
                numbers.sort_unstable();
                out.extend_from_slice(format!("{prefix} REMOVEFROM ({position} {})\r\n", uid_set(&numbers)).as_bytes());
                for (uid, _) in &removed {
                    update.results.remove(uid);
                }
            }
            if !added.is_empty() {
                added.sort_unstable();
                for (uid, _) in &added {
                    update.results.insert(*uid);
                }
                let position = update.results.range(..added[0].0).count() + 1;
                let numbers: Vec<u32> = added.iter().map(|&(u, s)| number(u, s)).collect();
                out.extend_from_slice(format!("{prefix} ADDTO ({position} {})\r\n", uid_set(&numbers)).as_bytes());
            }
        }
        self.updates = updates;
        Ok(())
    }

    /// A SORT kept up to date: sorted again, told what left it
    /// (REMOVEFROM) and where each newcomer stands in its order (ADDTO
    /// with a position per message). Sort keys never change, so nothing
    /// already in it moves.
    async fn report_sort_update(
        &mut self,
        service: &Service,
        out: &mut Vec<u8>,
        update: &mut Update,
    ) -> Result<(), Failure> {
        let Some((criteria, old)) = update.sort.take() else {
            return Ok(());
        };
        let sorted = self.sorted(service, &update.key, &criteria).await?;
        let new: Vec<u32> = sorted.iter().map(|s| self.messages[s.seq as usize - 1].uid).collect();
        let number = |uid: u32| match (update.uid, self.position(uid)) {
            (false, Some(i)) => i as u32 + 1,
            _ => uid,
        };
        let prefix = esearch_prefix(&update.tag, update.uid);
        let now: BTreeSet<u32> = new.iter().copied().collect();
        let removed: Vec<(usize, u32)> = old
            .iter()
            .enumerate()
            .filter(|(_, u)| !now.contains(u))
            .map(|(i, &u)| (i + 1, u))
            .collect();
        if let Some(&(position, _)) = removed.first() {
            let mut numbers: Vec<u32> = removed.iter().map(|&(_, u)| number(u)).collect();
            numbers.sort_unstable();
            out.extend_from_slice(format!("{prefix} REMOVEFROM ({position} {})\r\n", uid_set(&numbers)).as_bytes());
        }
        let added: Vec<String> = new
            .iter()
            .enumerate()
            .filter(|(_, u)| !update.results.contains(u))
            .map(|(i, &u)| format!("{} {}", i + 1, number(u)))
            .collect();
        if !added.is_empty() {
            out.extend_from_slice(format!("{prefix} ADDTO ({})\r\n", added.join(" ")).as_bytes());
        }
        update.results = now;
        update.sort = Some((criteria, new));
        Ok(())
    }

    /// The mailbox's highest MODSEQ as far as this session knows.
    pub fn highest_modseq(&self) -> u64 {
        self.known_highest_modseq(Survey::of(&self.messages).highest_modseq)
    }

    /// [`Selected::highest_modseq`], given the highest of the messages'.
    fn known_highest_modseq(&self, of_messages: u64) -> u64 {
        self.watch
            .modseq()
            .max(self.handle.info().highest_modseq)
            .max(of_messages)
    }

    /// QRESYNC's resynchronisation after SELECT (RFC 7162 §3.2.5): what
    /// vanished since the client's MODSEQ (among the UIDs it knows), then
    /// the messages changed since, read from the change log, not from the
    /// whole mailbox.
    pub async fn resync(&mut self, service: &Service, p: &Principal, out: &mut Vec<u8>, q: &Qresync) -> Outcome {
        if q.uidvalidity != self.handle.info().uidvalidity {
            return Ok(String::new()); // the client must start over
        }
        let changes = service.changes_since(p, &self.name, q.modseq).await?;
        let mut vanished = Vec::new();
        let mut changed = HashSet::new();
        for change in &changes {
            match &change.kind {
                ChangeKind::Expunged(uids) => vanished.extend(uids.iter().copied().filter(|u| {
                    self.position(*u).is_none() && q.known_uids.as_ref().is_none_or(|k| k.contains(*u, u32::MAX))
                })),
                ChangeKind::Added(list) => changed.extend(list.iter().map(|(u, _)| *u)),
                ChangeKind::FlagsChanged { messages, .. } => changed.extend(messages.iter().map(|(u, _)| *u)),
                _ => {}
            }
        }
        if !vanished.is_empty() {
            vanished.sort_unstable();
            vanished.dedup();
            out.extend_from_slice(format!("* VANISHED (EARLIER) {}\r\n", uid_set(&vanished)).as_bytes());
        }
        for i in 0..self.announced {
            if changed.contains(&self.messages[i].uid) {
                self.fetch_flags(out, i);
            }
        }
        Ok(String::new())
    }

    /// Brings the view up to date with everything committed before `since`
    /// (a [`Service::commits_so_far`] mark; anything on PostgreSQL) and
    /// reports what may be reported now. Fails when the mailbox is gone.
    pub async fn sync(
        &mut self,
        service: &Service,
        out: &mut Vec<u8>,
        expunges_allowed: bool,
        since: u64,
    ) -> Result<(), String> {
        let fresh = service
            .refresh(&mut self.watch, since)
            .await
            .map_err(|e| e.to_string())?;
        self.take(service, out, fresh, expunges_allowed).await
    }

    /// Reports `changes` (what the watch handed out) and those waiting.
    pub async fn take(
        &mut self,
        service: &Service,
        out: &mut Vec<u8>,
        changes: Vec<Change>,
        expunges_allowed: bool,
    ) -> Result<(), String> {
        self.pending.extend(changes);
        self.claim_recent(service).await?;
        self.apply_pending(out, expunges_allowed)
    }

    /// Reports the changes waiting in `pending` that may be reported now.
    fn apply_pending(&mut self, out: &mut Vec<u8>, expunges_allowed: bool) -> Result<(), String> {
        loop {
            let held = self
                .pending
                .front()
                .is_some_and(|c| matches!(c.kind, ChangeKind::Expunged(_)) && !expunges_allowed);
            if held {
                break;
            }
            let Some(change) = self.pending.pop_front() else { break };
            self.applied_log_id = self.applied_log_id.max(change.log_id);
            match change.kind {
                ChangeKind::Added(list) => {
                    for (uid, flags) in list {
                        if self.messages.last().is_none_or(|last| last.uid < uid) {
                            if !self.updates.is_empty() {
                                self.dirty.insert(uid);
                            }
                            self.messages.push_back(FlagRow {
                                uid,
                                flags,
                                modseq: change.modseq,
                            });
                        }
                    }
                }
                ChangeKind::FlagsChanged { messages, only_for } => {
                    let shared_change = only_for.is_none() && self.per_user_seen;
                    for (uid, flags) in messages {
                        let Some(i) = self.position(uid) else { continue };
                        if change.modseq <= self.messages[i].modseq {
                            continue; // this state, or an older one, was reported already
                        }
                        // Only now its chunk becomes this session's own.
                        let known = &mut self.messages[i];
                        known.modseq = change.modseq;
                        let mut new = flags;
                        if shared_change {
                            // The log carries the shared flags; \Seen stays this user's own.
                            new.remove(SystemFlag::Seen);
                            if known.flags.contains(SystemFlag::Seen) {
                                new.insert(SystemFlag::Seen);
                            }
                        }
                        if new != known.flags {
                            known.flags = new;
                            if !self.updates.is_empty() {
                                self.dirty.insert(uid);
                            }
                            if i < self.announced {
                                self.fetch_flags(out, i);
                            }
                        }
                    }
                }
                ChangeKind::Expunged(uids) => {
                    self.announce(out);
                    self.expunged(out, uids);
                }
                ChangeKind::MailboxDeleted => return Err("The selected mailbox was deleted".into()),
                ChangeKind::MailboxCreated
                | ChangeKind::MailboxRenamed(_)
                | ChangeKind::AclChanged
                | ChangeKind::DirectoryChanged => {}
            }
        }
        self.announce(out);
        Ok(())
    }

    /// Indices of the messages a set names. Sequence numbers beyond the
    /// mailbox are an error; UIDs that no longer exist are skipped.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Failure> {
        let count = self.announced;
        let mut picked = vec![false; count];
        let last_uid = count.checked_sub(1).map_or(0, |i| self.messages[i].uid);
        for &(a, b) in &set.0 {
            let value = |bound: Bound| match bound {
                Bound::Number(n) => n,
                Bound::Last => {
                    if uid {
                        last_uid
                    } else {
                        count as u32
                    }
                }
            };
            let (lo, hi) = (value(a).min(value(b)), value(a).max(value(b)));
            if uid {
                let start = index_from(&self.messages, lo).min(count);
                let end = match hi.checked_add(1) {
                    Some(above) => index_from(&self.messages, above).min(count),
                    None => count,
                };
                picked[start..end].iter_mut().for_each(|p| *p = true);
            } else {
                if hi as usize > count || lo == 0 {
                    return Err(Failure::Bad(format!("No message {hi}: the mailbox has {count}")));
                }
                picked[lo as usize - 1..hi as usize].iter_mut().for_each(|p| *p = true);
            }
        }
        Ok(picked.iter().enumerate().filter(|(_, p)| **p).map(|(i, _)| i).collect())
    }

    fn uids(&self, indices: &[usize]) -> Vec<u32> {
        indices.iter().map(|&i| self.messages[i].uid).collect()
    }

    fn writable(&self) -> Result<(), Failure> {
        if self.read_only {
            Err(Failure::No("[READ-ONLY] The mailbox is open read-only".into()))
        } else {
            Ok(())
        }
    }

    /// The session's principal was checked again (its admin right may
    /// have changed): the mailbox's rights are resolved again before the
    /// next command uses them.
    pub fn renew(&mut self, p: &Principal) {
        self.handle.renew(p);
    }

    /// CLOSE: expunges silently where allowed.
    pub async fn close(&mut self, service: &Service) {
        if !self.read_only {
            let _ = service.expunge_in(&mut self.handle, None).await;
        }
    }

    pub async fn expunge(&mut self, cx: Cx<'_>, set: Option<&SequenceSet>) -> Outcome {
        let Cx { service, out, .. } = cx;
        self.writable()?;
        let only = match set {
            Some(set) => Some(self.uids(&self.resolve(set, true)?)),
            None => None,
        };
        let gone = service.expunge_in(&mut self.handle, only.as_deref()).await?;
        self.expunged(out, gone);
        Ok("EXPUNGE completed".into())
    }

    pub async fn store(&mut self, cx: Cx<'_>, args: StoreArgs<'_>) -> Outcome {
        let Cx { service, out, .. } = cx;
        self.writable()?;
        let indices = self.resolve(args.set, args.uid)?;
        let (indices, modified) = match args.unchanged_since {
            Some(limit) => self.unchanged_since(service, indices, limit).await?,
            None => (indices, Vec::new()),
        };
        let uids = self.uids(&indices);
        let changed = service
            .store_flags_in(&mut self.handle, &uids, args.op, args.flags)
            .await?;
        let changed_uids: HashSet<u32> = changed.iter().map(|c| c.uid).collect();
        self.apply_own(changed);
        for i in indices {
            if !args.silent {
                self.fetch_flags(out, i);
            } else if self.condstore && changed_uids.contains(&self.messages[i].uid) {
                // RFC 7162 §3.1.3: the new MODSEQ even when silent.
                let m = &self.messages[i];
                let line = format!("* {} FETCH (UID {} MODSEQ ({}))\r\n", i + 1, m.uid, m.modseq);
                out.extend_from_slice(line.as_bytes());
            }
        }
        if modified.is_empty() {
            return Ok("STORE completed".into());
        }
        let numbers: Vec<u32> = modified
            .iter()
            .map(|&i| if args.uid { self.messages[i].uid } else { i as u32 + 1 })
            .collect();
        Ok(format!("[MODIFIED {}] Conditional STORE failed", uid_set(&numbers)))
    }

    /// UNCHANGEDSINCE: splits `indices` into the messages whose MODSEQ is
    /// at most `limit` and those changed since (left alone). Read just
    /// before the store: a change committed in between is not seen.
    async fn unchanged_since(
        &mut self,
        service: &Service,
        indices: Vec<usize>,
        limit: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), Failure> {
        let current: HashMap<u32, u64> = self
            .rows_of(service, &indices)
            .await?
            .into_iter()
            .map(|(uid, r)| (uid, r.modseq))
            .collect();
        Ok(indices.into_iter().partition(|&i| {
            let m = &self.messages[i];
            current.get(&m.uid).copied().unwrap_or(0).max(m.modseq) <= limit
        }))
    }

    pub async fn copy(&mut self, cx: Cx<'_>, set: &SequenceSet, uid: bool, target: &str, moving: bool) -> Outcome {
        let Cx { service, p, out, .. } = cx;
        let verb = if moving { "MOVE" } else { "COPY" };
        if moving {
            self.writable()?;
        }
        let uids = self.uids(&self.resolve(set, uid)?);
        if uids.is_empty() {
            return Ok(format!("{verb} completed, no messages"));
        }
        let result = if moving {
            service.move_messages(p, &self.name, &uids, target).await
        } else {
            service.copy(p, &self.name, &uids, target).await
        };
        let (uidvalidity, pairs) = result.map_err(try_create)?;
        if pairs.is_empty() {
            return Ok(format!("{verb} completed, no messages"));
        }
        let from: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
        let to: Vec<u32> = pairs.iter().map(|(_, d)| *d).collect();
        let code = format!("COPYUID {uidvalidity} {} {}", uid_set(&from), uid_set(&to));
        if !moving {
            return Ok(format!("[{code}] COPY completed"));
        }
        out.extend_from_slice(format!("* OK [{code}] Moved\r\n").as_bytes());
        let mut moved = from;
        moved.sort_unstable();
        self.expunged(out, moved);
        Ok("MOVE completed".into())
    }

    pub async fn search(&mut self, cx: Cx<'_>, uid: bool, key: &Key) -> Outcome {
        let Cx { service, out, .. } = cx;
        let found = self.matching(service, key).await?;
        self.write_numbers(out, "SEARCH", uid, &found);
        if let Some(highest) = self.modseq_of(key, &found) {
            // `* SEARCH 2 5 (MODSEQ 917)` (RFC 7162 §3.1.5).
            out.truncate(out.len() - 2);
            out.extend_from_slice(format!(" (MODSEQ {highest})\r\n").as_bytes());
        }
        Ok("SEARCH completed".into())
    }

    /// For a search by MODSEQ that found something: the highest MODSEQ
    /// among what it found.
    fn modseq_of(&self, key: &Key, found: &[usize]) -> Option<u64> {
        if !key.uses_modseq() {
            return None;
        }
        found.iter().map(|&i| self.messages[i].modseq).max()
    }

    /// SEARCH RETURN (RFC 4731): `* ESEARCH` with what was asked for
    /// (ALL when nothing was).
    pub async fn esearch(&mut self, cx: Cx<'_>, tag: &str, uid: bool, key: &Key, returns: &[String]) -> Outcome {
        let Cx { service, out, .. } = cx;
        let found = self.matching(service, key).await?;
        self.write_esearch(out, tag, uid, key, &found, returns);
        if returns.iter().any(|r| r == "UPDATE") {
            self.updates.retain(|u| u.tag != tag);
            self.updates.push(Update {
                tag: tag.to_owned(),
                uid,
                key: key.clone(),
                results: found.iter().map(|&i| self.messages[i].uid).collect(),
                sort: None,
            });
        }
        Ok("SEARCH completed".into())
    }

    /// `* ESEARCH` for messages `found` in their order (RFC 4731, and
    /// RFC 5267 ESORT: MIN and MAX are the first and last of that order).
    fn write_esearch(&self, out: &mut Vec<u8>, tag: &str, uid: bool, key: &Key, found: &[usize], returns: &[String]) {
        let numbers: Vec<u32> = found
            .iter()
            .map(|&i| if uid { self.messages[i].uid } else { i as u32 + 1 })
            .collect();
        let wants = |o: &str| returns.is_empty() && o == "ALL" || returns.iter().any(|r| r == o);
        let mut line = esearch_prefix(tag, uid);
        if let (true, Some(min)) = (wants("MIN"), numbers.first()) {
            line.push_str(&format!(" MIN {min}"));
        }
        if let (true, Some(max)) = (wants("MAX"), numbers.last()) {
            line.push_str(&format!(" MAX {max}"));
        }
        if wants("COUNT") {
            line.push_str(&format!(" COUNT {}", numbers.len()));
        }
        if wants("ALL") && !numbers.is_empty() {
            line.push_str(&format!(" ALL {}", uid_set(&numbers)));
        }
        for range in returns.iter().filter_map(|r| r.strip_prefix("PARTIAL ")) {
            let (low, high) = range.split_once(':').unwrap_or_default();
            let (low, high) = (low.parse::<usize>().unwrap_or(1), high.parse::<usize>().unwrap_or(1));
            let picked = numbers.get(low - 1..high.min(numbers.len())).unwrap_or_default();
            let set = if picked.is_empty() {
                "NIL".to_owned()
            } else {
                uid_set(picked)
            };
            line.push_str(&format!(" PARTIAL ({range} {set})"));
        }
        // With only MIN and/or MAX asked, MODSEQ is theirs (RFC 7162 §3.1.5).
        let reported: Vec<usize> = if !returns.is_empty()
            && !wants("ALL")
            && !wants("COUNT")
            && !returns.iter().any(|r| r.starts_with("PARTIAL"))
        {
            let mut ends: Vec<usize> = Vec::new();
            if wants("MIN") {
                ends.extend(found.first());
            }
            if wants("MAX") {
                ends.extend(found.last());
            }
            ends
        } else {
            found.to_vec()
        };
        if let Some(highest) = self.modseq_of(key, &reported) {
            line.push_str(&format!(" MODSEQ {highest}"));
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
    }

    /// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages with one base
    /// subject form a thread, in order of their sent dates, each a child
    /// of the first; threads in order of their first message's date.
    pub async fn thread(&mut self, cx: Cx<'_>, uid: bool, key: &Key) -> Outcome {
        let Cx { service, out, .. } = cx;
        let by_date = [
            Criterion {
                reverse: false,
                key: sort::SortKey::Subject,
            },
            Criterion {
                reverse: false,
                key: sort::SortKey::Date,
            },
        ];
        let sorted = self.sorted(service, key, &by_date).await?;
        let mut threads: Vec<Vec<&Sortable>> = Vec::new();
        for s in &sorted {
            match threads.last_mut() {
                Some(t) if t[0].subject == s.subject => t.push(s),
                _ => threads.push(vec![s]),
            }
        }
        threads.sort_by(|a, b| (a[0].date, a[0].seq).cmp(&(b[0].date, b[0].seq)));
        let number = |s: &Sortable| {
            let i = s.seq as usize - 1;
            if uid { self.messages[i].uid } else { s.seq }
        };
        let mut line = String::from("* THREAD ");
        for t in &threads {
            line.push_str(&format!("({}", number(t[0])));
            match &t[1..] {
                [] => {}
                [only] => line.push_str(&format!(" {}", number(only))),
                children => {
                    line.push(' ');
                    for child in children {
                        line.push_str(&format!("({})", number(child)));
                    }
                }
            }
            line.push(')');
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
        Ok("THREAD completed".into())
    }

    /// THREAD=REFERENCES (RFC 5256 §3, see [`thread::references`]).
    pub async fn thread_references(&mut self, cx: Cx<'_>, uid: bool, key: &Key) -> Outcome {
        let Cx { service, out, .. } = cx;
        let (found, rows) = self.matching_with_rows(service, key).await?;
        let mut messages: Vec<Threadable> = Vec::with_capacity(found.len());
        for chunk in found.chunks(BATCH) {
            let contents = self.contents_by_uid(service, chunk).await?;
            for &i in chunk {
                let m = &self.messages[i];
                let mut t = Threadable {
                    seq: i as u32 + 1,
                    date: rows[&m.uid].internal_date,
                    ..Threadable::default()
                };
                t.read_headers(contents.get(&m.uid).map_or(&[][..], Vec::as_slice));
                messages.push(t);
            }
        }
        let threads = thread::references(&messages);
        let mut line = String::from("* THREAD ");
        thread::write(&mut line, &threads, &|seq| {
            if uid { self.messages[seq as usize - 1].uid } else { seq }
        });
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
        Ok("THREAD completed".into())
    }

    /// SORT (RFC 5256): the matching messages in the criteria's order;
    /// with `RETURN (…)` (ESORT, RFC 5267) as `* ESEARCH`.
    pub async fn sort(&mut self, cx: Cx<'_>, args: SortArgs<'_>) -> Outcome {
        let Cx { service, out, .. } = cx;
        let sorted = self.sorted(service, args.key, args.criteria).await?;
        let order: Vec<usize> = sorted.iter().map(|s| s.seq as usize - 1).collect();
        match args.returns {
            Some(returns) => self.write_esearch(out, args.tag, args.uid, args.key, &order, returns),
            None => self.write_numbers(out, "SORT", args.uid, &order),
        }
        if args.returns.is_some_and(|r| r.iter().any(|o| o == "UPDATE")) {
            let uids: Vec<u32> = order.iter().map(|&i| self.messages[i].uid).collect();
            self.updates.retain(|u| u.tag != args.tag);
            self.updates.push(Update {
                tag: args.tag.to_owned(),
                uid: args.uid,
                key: args.key.clone(),
                results: uids.iter().copied().collect(),
                sort: Some((args.criteria.to_vec(), uids)),
            });
        }
        Ok("SORT completed".into())
    }

    /// The messages matching `key`, ordered by `criteria`.
    async fn sorted(&mut self, service: &Service, key: &Key, criteria: &[Criterion]) -> Result<Vec<Sortable>, Failure> {
        let (found, rows) = self.matching_with_rows(service, key).await?;
        let mut sortables: Vec<Sortable> = found
            .iter()
            .map(|&i| {
                let row = &rows[&self.messages[i].uid];
                Sortable {
                    seq: i as u32 + 1,
                    arrival: row.internal_date,
                    size: row.size,
                    ..Sortable::default()
                }
            })
            .collect();
        if sort::needs_headers(criteria) {
            for (chunk, sortables) in found.chunks(BATCH).zip(sortables.chunks_mut(BATCH)) {
                let contents = self.contents_by_uid(service, chunk).await?;
                for (&i, sortable) in chunk.iter().zip(sortables) {
                    let raw = contents.get(&self.messages[i].uid).map_or(&[][..], Vec::as_slice);
                    sortable.read_headers(raw);
                }
            }
        }
        sortables.sort_by(|a, b| sort::compare(criteria, a, b));
        Ok(sortables)
    }

    /// `* SEARCH 2 3 5` (or SORT): the messages as UIDs or sequence numbers.
    fn write_numbers(&self, out: &mut Vec<u8>, verb: &str, uid: bool, indices: &[usize]) {
        let mut line = format!("* {verb}");
        for &i in indices {
            let n = if uid { self.messages[i].uid } else { i as u32 + 1 };
            line.push_str(&format!(" {n}"));
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
    }

    /// The content of the messages at `indices`, by UID (those expunged
    /// meanwhile are missing).
    async fn contents_by_uid(
        &mut self,
        service: &Service,
        indices: &[usize],
    ) -> Result<HashMap<u32, Vec<u8>>, Failure> {
        let uids = self.uids(indices);
        let contents = service.contents_in(&mut self.handle, &uids).await?;
        Ok(contents.into_iter().map(|(row, bytes)| (row.uid, bytes)).collect())
    }

    /// The rows of the messages at `indices` by UID (those expunged
    /// meanwhile are missing): only theirs when they are few, else the
    /// mailbox's in one read.
    async fn rows_of(&mut self, service: &Service, indices: &[usize]) -> Result<HashMap<u32, MessageMeta>, Failure> {
        let uids = self.uids(indices);
        let rows = if uids.len() <= FEW_ROWS {
            service.messages_with_uids_in(&mut self.handle, &uids).await?
        } else {
            let wanted: HashSet<u32> = uids.into_iter().collect();
            let mut rows = service.messages_in(&mut self.handle).await?;
            rows.retain(|r| wanted.contains(&r.uid));
            rows
        };
        Ok(rows.into_iter().map(|r| (r.uid, r)).collect())
    }

    /// The announced messages that match `key`, in order.
    async fn matching(&mut self, service: &Service, key: &Key) -> Result<Vec<usize>, Failure> {
        let all: Vec<usize> = (0..self.announced).collect();
        Ok(self.matching_among(service, key, &all, false).await?.0)
    }

    /// [`Selected::matching`], and the rows of the mailbox's messages by
    /// UID (for what the view does not hold: dates and sizes).
    async fn matching_with_rows(
        &mut self,
        service: &Service,
        key: &Key,
    ) -> Result<(Vec<usize>, HashMap<u32, MessageMeta>), Failure> {
        let all: Vec<usize> = (0..self.announced).collect();
        self.matching_among(service, key, &all, true).await
    }

    /// [`Selected::matching`] among some of the announced messages; the
    /// rows only `with_rows` or where the key needs them (empty
    /// otherwise): reading a million of them took seconds, for a SEARCH
    /// the view and the word index answer in milliseconds.
    async fn matching_among(
        &mut self,
        service: &Service,
        key: &Key,
        among: &[usize],
        with_rows: bool,
    ) -> Result<(Vec<usize>, HashMap<u32, MessageMeta>), Failure> {
        let indexed = self.indexed(service, key, among).await?;
        let key = indexed.as_ref().unwrap_or(key);
        let count = self.announced;
        let read_rows = with_rows || key.needs_row();
        let rows: HashMap<u32, MessageMeta> = match read_rows {
            true => service
                .messages_in(&mut self.handle)
                .await?
                .into_iter()
                .map(|r| (r.uid, r))
                .collect(),
            false => HashMap::new(),
        };
        let gone = match read_rows {
            true => HashSet::new(),
            false => self.gone(service).await?,
        };
        let last_uid = count.checked_sub(1).map_or(0, |i| self.messages[i].uid);
        let mut found = Vec::new();
        for chunk in among.chunks(BATCH) {
            let texts: HashMap<u32, mime::Searchable> = if key.needs_content() {
                let uids = self.uids(chunk);
                let contents = service.contents_in(&mut self.handle, &uids).await?;
                contents
                    .into_iter()
                    .map(|(row, bytes)| (row.uid, mime::searchable(&bytes)))
                    .collect()
            } else {
                HashMap::new()
            };
            for &i in chunk {
                let m = &self.messages[i];
                // Expunged by someone else while we still show it: no match.
                let (internal_date, size) = match rows.get(&m.uid) {
                    Some(row) => (row.internal_date, row.size),
                    None if read_rows || gone.contains(&m.uid) => continue,
                    None => (0, 0), // not asked about
                };
                let candidate = Candidate {
                    seq: i as u32 + 1,
                    uid: m.uid,
                    flags: &m.flags,
                    internal_date,
                    size,
                    recent: self.recent.contains(m.uid),
                    modseq: m.modseq,
                    last_seq: count as u32,
                    last_uid,
                };
                if key.matches(&candidate, texts.get(&m.uid)) {
                    found.push(i);
                }
            }
        }
        Ok((found, rows))
    }

    /// The UIDs this view still shows that are gone from the mailbox: the
    /// expunges waiting to be reported, once what was committed so far
    /// has been taken in. They keep waiting (a SEARCH reports none); the
    /// command's end reports them as any other change.
    async fn gone(&mut self, service: &Service) -> Result<HashSet<u32>, Failure> {
        let fresh = service.refresh(&mut self.watch, service.commits_so_far()).await?;
        self.pending.extend(fresh);
        Ok(self
            .pending
            .iter()
            .flat_map(|c| match &c.kind {
                ChangeKind::Expunged(uids) => uids.as_slice(),
                _ => &[],
            })
            .copied()
            .collect())
    }

    /// In a big mailbox, `key` with its text keys (BODY, TEXT, FROM, TO,
    /// SUBJECT) answered by the word index
    /// ([`super::server::INDEXED_SEARCH_FROM`]); `None` where `key` is to
    /// be evaluated as it is.
    async fn indexed(&mut self, service: &Service, key: &Key, among: &[usize]) -> Result<Option<Key>, Failure> {
        let text_keys = key.text_keys();
        if text_keys.is_empty() || self.announced < self.indexed_search_from {
            return Ok(None);
        }
        // A few messages (an updated search's changed ones) are named;
        // past a few hundred, the mailbox's matches are read whole.
        let some = among.len() < self.announced.min(INDEXED_AMONG);
        let uids = some.then(|| self.uids(among));
        let mut found = Vec::new();
        // Each answer is held until the search ends (a common word: a
        // million UIDs); keys past the first few are matched by reading
        // every message, as in a small mailbox.
        for text_key in text_keys.into_iter().take(INDEXED_KEYS) {
            let (needle, field) = &text_key;
            let answer = service
                .uids_with_words_in(&mut self.handle, needle, *field, uids.as_deref())
                .await?;
            if let Some(matched) = answer {
                found.push((text_key, Arc::new(matched.into_iter().collect())));
            }
        }
        Ok(Some(key.with_found(&found)))
    }

    pub async fn fetch(&mut self, cx: Cx<'_>, set: &SequenceSet, uid: bool, items: &[FetchItem]) -> Outcome {
        self.fetch_changed(cx, set, uid, items, None).await
    }

    /// FETCH, with RFC 7162's `CHANGEDSINCE n` (only messages changed
    /// since; with `VANISHED`, also the UIDs in the set expunged since).
    pub async fn fetch_changed(
        &mut self,
        cx: Cx<'_>,
        set: &SequenceSet,
        uid: bool,
        items: &[FetchItem],
        changed_since: Option<(u64, bool)>,
    ) -> Outcome {
        let Cx { service, p, out, io } = cx;
        let mut indices = self.resolve(set, uid)?;
        // A repeated item is answered once (asking a hundred times for
        // the same body must not build it a hundred times).
        let mut items: Vec<FetchItem> = items
            .iter()
            .enumerate()
            .filter(|(n, item)| !items[..*n].contains(item))
            .map(|(_, item)| item.clone())
            .collect();
        if items.len() > limits::FETCH_ITEMS {
            return Err(Failure::Bad(format!(
                "A FETCH may ask for at most {} items",
                limits::FETCH_ITEMS
            )));
        }
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if let Some((since, vanished)) = changed_since {
            indices.retain(|&i| self.messages[i].modseq > since);
            if !items.contains(&FetchItem::Modseq) {
                items.push(FetchItem::Modseq);
            }
            if vanished {
                let mut gone: Vec<u32> = Vec::new();
                for change in service.changes_since(p, &self.name, since).await? {
                    if let ChangeKind::Expunged(uids) = change.kind {
                        gone.extend(
                            uids.into_iter()
                                .filter(|u| self.position(*u).is_none() && set.contains(*u, u32::MAX)),
                        );
                    }
                }
                gone.sort_unstable();
                gone.dedup();
                if !gone.is_empty() {
                    out.extend_from_slice(format!("* VANISHED (EARLIER) {}\r\n", uid_set(&gone)).as_bytes());
                }
            }
        }
        let needs_content = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::Envelope
                    | FetchItem::BodyStructure
                    | FetchItem::Body
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
                    | FetchItem::Section { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::BinarySize { .. }
            )
        });
        let needs_rows = needs_content
            || items
                .iter()
                .any(|i| matches!(i, FetchItem::InternalDate | FetchItem::Rfc822Size));
        let sets_seen = !self.read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                        | FetchItem::Section { peek: false, .. }
                        | FetchItem::Binary { peek: false, .. }
                )
            });
        let newly_seen = if sets_seen {
            self.mark_seen(service, &indices).await
        } else {
            HashSet::new()
        };
        // Without bodies, one query reads every row needed.
        let mut rows_only: HashMap<u32, (MessageMeta, Option<Vec<u8>>)> = HashMap::new();
        if needs_rows && !needs_content {
            rows_only = self
                .rows_of(service, &indices)
                .await?
                .into_iter()
                .map(|(uid, r)| (uid, (r, None)))
                .collect();
        }
        let mut missing = 0;
        for chunk in indices.chunks(BATCH) {
            let with_bodies: HashMap<u32, (MessageMeta, Option<Vec<u8>>)> = if needs_content {
                let uids = self.uids(chunk);
                let contents = service.contents_in(&mut self.handle, &uids).await?;
                contents.into_iter().map(|(r, b)| (r.uid, (r, Some(b)))).collect()
            } else {
                HashMap::new()
            };
            let mut loaded = if needs_content {
                with_bodies
            } else {
                chunk
                    .iter()
                    .filter_map(|&i| {
                        let uid = self.messages[i].uid;
                        rows_only.remove(&uid).map(|row| (uid, row))
                    })
                    .collect()
            };
            if needs_rows {
                // Expunged by another session, and this one not told yet:
                // still served, as it was (RFC 2180 §4.1.1).
                let gone: Vec<u32> = chunk
                    .iter()
                    .map(|&i| self.messages[i].uid)
                    .filter(|uid| !loaded.contains_key(uid))
                    .collect();
                if !gone.is_empty() {
                    let kept = service
                        .expunged_contents(&mut self.handle, self.applied_log_id, &gone)
                        .await?;
                    loaded.extend(kept.into_iter().map(|(r, b)| (r.uid, (r, Some(b)))));
                }
            }
            for &i in chunk {
                // Looked up once (each lookup walks the persistent
                // vector's tree); a copy costs no allocation but for
                // keywords.
                let message = &self.messages[i].clone();
                let data = loaded.get(&message.uid);
                if needs_rows && data.is_none() {
                    missing += 1;
                    continue;
                }
                let shows_flags = items.contains(&FetchItem::Flags) || newly_seen.contains(&message.uid);
                if shows_flags {
                    self.learn_keywords(out, &message.flags);
                }
                let recent = self.recent.contains(message.uid);
                let mut line = format!("* {} FETCH (", i + 1).into_bytes();
                let mut first = true;
                for item in &items {
                    if !first {
                        line.push(b' ');
                    }
                    first = false;
                    write_item(&mut line, item, message, recent, data).map_err(Failure::No)?;
                    if line.len() > limits::FETCH_RESPONSE {
                        return Err(Failure::No(format!(
                            "[LIMIT] The response for one message would exceed {} bytes; ask for less at a time",
                            limits::FETCH_RESPONSE
                        )));
                    }
                }
                if newly_seen.contains(&message.uid) && !items.contains(&FetchItem::Flags) {
                    line.extend_from_slice(b" FLAGS ");
                    write_flags(&mut line, &message.flags, recent);
                    if self.condstore && !items.contains(&FetchItem::Modseq) {
                        line.extend_from_slice(format!(" MODSEQ ({})", message.modseq).as_bytes());
                    }
                }
                line.extend_from_slice(b")\r\n");
                out.extend_from_slice(&line);
                spill(io, out).await?;
            }
        }
        if missing > 0 {
            return Err(Failure::No(format!(
                "[EXPUNGEISSUED] {missing} of the messages were expunged meanwhile"
            )));
        }
        Ok("FETCH completed".into())
    }

    /// Sets `\Seen` on the messages that lack it (a FETCH of a body does,
    /// RFC 3501 §6.4.5); returns the UIDs whose flags changed. Without
    /// the `s` right nothing changes, silently.
    async fn mark_seen(&mut self, service: &Service, indices: &[usize]) -> HashSet<u32> {
        let unseen: Vec<u32> = indices
            .iter()
            .filter(|&&i| !self.messages[i].flags.contains(SystemFlag::Seen))
            .map(|&i| self.messages[i].uid)
            .collect();
        if unseen.is_empty() {
            return HashSet::new();
        }
        let mut seen = Flags::default();
        seen.insert(SystemFlag::Seen);
        let Ok(changed) = service
            .store_flags_in(&mut self.handle, &unseen, FlagOp::Add, &seen)
            .await
        else {
            return HashSet::new();
        };
        let out = changed.iter().map(|c| c.uid).collect();
        self.apply_own(changed);
        out
    }

    /// Takes this session's own flag change into the view (its responses
    /// report it; the log's echo of it is then old news).
    fn apply_own(&mut self, changed: Vec<ChangedFlags>) {
        for c in changed {
            if let Some(i) = self.position(c.uid) {
                let known = &mut self.messages[i];
                if c.modseq > known.modseq {
                    known.flags = c.flags;
                    known.modseq = c.modseq;
                    if !self.updates.is_empty() {
                        self.dirty.insert(c.uid);
                    }
                }
            }
        }
    }
}

/// Writes one FETCH item; fails only for a BINARY part whose transfer
/// encoding is unknown.
fn write_item(
    line: &mut Vec<u8>,
    item: &FetchItem,
    message: &FlagRow,
    recent: bool,
    data: Option<&(MessageMeta, Option<Vec<u8>>)>,
) -> Result<(), String> {
    let row = data.map(|(r, _)| r);
    let bytes: &[u8] = data.and_then(|(_, b)| b.as_deref()).unwrap_or_default();
    match item {
        FetchItem::Flags => {
            line.extend_from_slice(b"FLAGS ");
            write_flags(line, &message.flags, recent);
        }
        FetchItem::Uid => line.extend_from_slice(format!("UID {}", message.uid).as_bytes()),
        FetchItem::Modseq => line.extend_from_slice(format!("MODSEQ ({})", message.modseq).as_bytes()),
        FetchItem::InternalDate => {
            let date = internal_date(row.map_or(0, |r| r.internal_date));
            line.extend_from_slice(format!("INTERNALDATE \"{date}\"").as_bytes());
        }
        FetchItem::Rfc822Size => {
            let size = if bytes.is_empty() {
                row.map_or(0, |r| r.size as usize)
            } else {
                bytes.len()
            };
            line.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
        }
        FetchItem::Envelope => {
            line.extend_from_slice(b"ENVELOPE ");
            line.extend_from_slice(&mime::envelope(bytes));
        }
        FetchItem::BodyStructure => {
            line.extend_from_slice(b"BODYSTRUCTURE ");
            line.extend_from_slice(&mime::body_structure(bytes, true));
        }
        FetchItem::Body => {
            line.extend_from_slice(b"BODY ");
            line.extend_from_slice(&mime::body_structure(bytes, false));
        }
        FetchItem::Rfc822 => {
            line.extend_from_slice(b"RFC822 ");
            response::string(line, bytes);
        }
        FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
            let (name, text) = if *item == FetchItem::Rfc822Header {
                ("RFC822.HEADER ", SectionText::Header)
            } else {
                ("RFC822.TEXT ", SectionText::Text)
            };
            let section = Section {
                part: Vec::new(),
                text: Some(text),
            };
            line.extend_from_slice(name.as_bytes());
            response::string(line, &mime::section(bytes, &section).unwrap_or_default());
        }
        FetchItem::Section { section, partial, .. } => {
            line.extend_from_slice(b"BODY[");
            section_spec(line, section);
            line.push(b']');
            write_part(
                line,
                mime::section(bytes, section).as_deref(),
                *partial,
                response::string,
            );
        }
        FetchItem::Binary { part, partial, .. } => {
            line.extend_from_slice(b"BINARY[");
            line.extend_from_slice(part_numbers(part).as_bytes());
            line.push(b']');
            write_part(line, mime::binary(bytes, part)?.as_deref(), *partial, response::binary);
        }
        FetchItem::BinarySize { part } => {
            let size = mime::binary(bytes, part)?.map_or(0, |d| d.len());
            line.extend_from_slice(format!("BINARY.SIZE[{}] {size}", part_numbers(part)).as_bytes());
        }
    }
    Ok(())
}

/// A section's data after its name: ` value`, `<start> value` for a
/// partial fetch (the range cut to the data), or ` NIL` for no such part;
/// `write` writes the value (a string, or BINARY's literal8 when needed).
fn write_part(line: &mut Vec<u8>, data: Option<&[u8]>, partial: Option<(u32, u32)>, write: fn(&mut Vec<u8>, &[u8])) {
    match (data, partial) {
        (Some(data), Some((start, count))) => {
            line.extend_from_slice(format!("<{start}> ").as_bytes());
            let from = (start as usize).min(data.len());
            let to = from.saturating_add(count as usize).min(data.len());
            write(line, &data[from..to]);
        }
        (Some(data), None) => {
            line.push(b' ');
            write(line, data);
        }
        (None, _) => line.extend_from_slice(b" NIL"),
    }
}

/// `* ESEARCH (TAG "t")`, then ` UID` for a UID search.
fn esearch_prefix(tag: &str, uid: bool) -> String {
    let mut quoted = Vec::new();
    response::string(&mut quoted, tag.as_bytes());
    let uid = if uid { " UID" } else { "" };
    format!("* ESEARCH (TAG {}){uid}", String::from_utf8_lossy(&quoted))
}

/// `1.2`.
fn part_numbers(part: &[u32]) -> String {
    part.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// A message's flags as FETCH answers them, `\Recent` included.
fn write_flags(line: &mut Vec<u8>, flags: &Flags, recent: bool) {
    response::flags(line, flags);
    if recent {
        line.pop();
        if !line.ends_with(b"(") {
            line.push(b' ');
        }
        line.extend_from_slice(b"\\Recent)");
    }
}

/// A section as the response names it: `1.2.HEADER.FIELDS (From To)`.
fn section_spec(line: &mut Vec<u8>, section: &Section) {
    let parts: Vec<String> = section.part.iter().map(u32::to_string).collect();
    line.extend_from_slice(parts.join(".").as_bytes());
    let Some(text) = &section.text else { return };
    if !parts.is_empty() {
        line.push(b'.');
    }
    match text {
        SectionText::Header => line.extend_from_slice(b"HEADER"),
        SectionText::Text => line.extend_from_slice(b"TEXT"),
        SectionText::Mime => line.extend_from_slice(b"MIME"),
        SectionText::HeaderFields { not, fields } => {
            line.extend_from_slice(if *not {
                b"HEADER.FIELDS.NOT ("
            } else {
                b"HEADER.FIELDS ("
            });
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    line.push(b' ');
                }
                response::astring(line, field.as_bytes());
            }
            line.push(b')');
        }
    }
}

/// `28-Nov-2026 16:37:40 +0000`.
fn internal_date(t: i64) -> String {
    let (year, month, day) = mailroom_shared::dates::civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    format!(
        "{day:02}-{}-{year:04} {:02}:{:02}:{:02} +0000",
        mailroom_shared::dates::MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// UIDs as a compact set in their order: `4:6,9`.
fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1] == uids[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            uids[i].to_string()
        } else {
            format!("{}:{}", uids[i], uids[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_keep_their_order() {
        assert_eq!(uid_set(&[4, 5, 6, 9]), "4:6,9");
        assert_eq!(uid_set(&[3, 1, 2]), "3,1:2");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn recent_messages_are_the_claimed_ranges() {
        let messages: FlagRows = [1, 2, 4, 7, 8, 9, 12]
            .into_iter()
            .map(|uid| FlagRow {
                uid,
                modseq: 1,
                flags: Flags::default(),
            })
            .collect();
        let mut recent = Recent::default();
        assert_eq!(recent.count(&messages), 0);
        recent.add(7..10);
        recent.add(10..10); // nothing claimed
        assert_eq!(recent.count(&messages), 3);
        assert!(recent.contains(7) && recent.contains(9) && !recent.contains(10) && !recent.contains(4));
        // A look sees again, and more, what it saw: counted once.
        recent.add(4..13);
        assert_eq!(recent.count(&messages), 5);
        assert_eq!((recent.0.len(), recent.0[0].clone()), (1, 4..13));
        recent.add(1..2);
        assert_eq!(recent.count(&messages), 6);
        assert!(recent.contains(1) && !recent.contains(2));
        assert!(recent.contains(4) && recent.contains(12) && !recent.contains(3) && !recent.contains(13));
        assert!(!recent.contains(0) && !recent.contains(u32::MAX));
    }

    #[test]
    fn a_survey_sees_every_chunk() {
        // Some hundreds of messages: many chunks of the persistent vector.
        let mut messages: FlagRows = (1..=1000)
            .map(|uid| FlagRow {
                uid,
                modseq: u64::from(uid % 7),
                flags: Flags::from(SystemFlag::Seen),
            })
            .collect();
        messages[700].flags = Flags::default();
        messages[900].flags = Flags::parse(["\\Seen", "$Later"]).expect("flags");
        messages[901].modseq = 99;
        let survey = Survey::of(&messages);
        assert_eq!(survey.first_unseen, Some(700));
        assert_eq!(survey.highest_modseq, 99);
        assert_eq!(survey.keywords.into_iter().collect::<Vec<_>>(), ["$Later"]);
    }

    #[test]
    fn internal_dates() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(internal_date(1_795_883_860), "28-Nov-2026 16:37:40 +0000");
    }
}
