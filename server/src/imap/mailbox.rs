//! The selected state: one session's view of one mailbox — its message
//! sequence numbers, the flags the client was told — and the commands that
//! work on it (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE).
//!
//! Others' changes arrive from the service's watch and wait in `pending`
//! until a point where RFC 3501 §7.4.1 lets the server report them: new
//! messages and flag changes after any command, expunges never during
//! FETCH, STORE or SEARCH (so sequence numbers hold still while a client
//! uses them). Our own changes come back through the watch too; applying
//! a change twice does nothing, so they cause no duplicate responses.

use std::collections::{HashMap, HashSet, VecDeque};

use mailroom_shared::dto::SeenMode;
use mailroom_shared::{FlagOp, Flags, Right, SystemFlag};

use super::command::{FetchItem, Section, SectionText};
use super::mime;
use super::response;
use super::search::{Candidate, Key};
use super::session::{Failure, Outcome, try_create};
use super::syntax::{Bound, SequenceSet};
use crate::feed::{Change, ChangeKind};
use crate::service::{Opened, Principal, Service, Watch};
use crate::store::MessageRow;

/// Messages read from the store at a time by FETCH and SEARCH.
const BATCH: usize = 64;

/// What a command on the selected mailbox works with.
pub struct Cx<'a> {
    pub service: &'a Service,
    pub p: &'a Principal,
    pub out: &'a mut Vec<u8>,
}

pub struct Selected {
    /// The name as the client wrote it.
    pub name: String,
    /// The mailbox as the service resolved it: commands on it skip the
    /// lookups (the service re-resolves it when rights or names change).
    handle: Opened,
    pub read_only: bool,
    per_user_seen: bool,
    /// Sequence number − 1 → (UID, flags as last reported).
    messages: Vec<(u32, Flags)>,
    /// How many messages the client was told exist.
    announced: usize,
    watch: Watch,
    pub pending: VecDeque<Change>,
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
        let (handle, watch, messages) = match kept {
            // The session's view, brought up to date by its watch, is the
            // mailbox as it is now: its list need not be read again —
            // unless rights or names changed meanwhile.
            Some(mut old) if service.is_current(&old.handle) => {
                let missed = service.reselect(p, &mut old.handle, &mut old.watch).await?;
                old.pending.extend(missed);
                old.sync(p, &mut Vec::new(), true).await.map_err(Failure::No)?;
                (old.handle, old.watch, old.messages)
            }
            kept => {
                let (handle, watch, rows) = service.select(p, name, kept.map(|s| s.handle)).await?;
                let messages: Vec<(u32, Flags)> = rows.into_iter().map(|r| (r.uid, r.flags)).collect();
                (handle, watch, messages)
            }
        };
        let info = handle.info();
        let rights = info.rights;
        let may_change = [Right::Seen, Right::Write, Right::DeleteMessage, Right::Expunge]
            .iter()
            .any(|r| rights.contains(*r));
        let read_only = examine || !may_change;
        let mut keywords: Vec<&str> = messages.iter().flat_map(|(_, f)| f.keywords()).collect();
        keywords.sort_unstable();
        keywords.dedup();
        let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
        let all_keywords = keywords.iter().map(|k| format!(" {k}")).collect::<String>();
        let mut lines = vec![format!("* FLAGS ({system}{all_keywords})")];
        let mut permanent = Vec::new();
        if !read_only {
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
                permanent.extend(keywords.iter().copied());
                permanent.push("\\*");
            }
        }
        lines.push(format!(
            "* OK [PERMANENTFLAGS ({})] Flags you can change",
            permanent.join(" ")
        ));
        lines.push(format!("* {} EXISTS", messages.len()));
        lines.push("* 0 RECENT".into());
        if let Some(i) = messages.iter().position(|(_, f)| !f.contains(SystemFlag::Seen)) {
            lines.push(format!("* OK [UNSEEN {}] First unseen", i + 1));
        }
        lines.push(format!("* OK [UIDVALIDITY {}] UIDs valid", info.uidvalidity));
        lines.push(format!("* OK [UIDNEXT {}] Predicted next UID", info.uidnext));
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Ok(Selected {
            name: name.to_owned(),
            handle,
            read_only,
            per_user_seen: info.seen_mode == SeenMode::PerUser,
            announced: messages.len(),
            messages,
            watch,
            pending: VecDeque::new(),
        })
    }

    pub fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }

    fn position(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |(u, _)| *u).ok()
    }

    /// Tells the client of messages it does not know of yet.
    fn announce(&mut self, out: &mut Vec<u8>) {
        if self.messages.len() > self.announced {
            self.announced = self.messages.len();
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.announced).as_bytes());
        }
    }

    fn fetch_flags(&self, out: &mut Vec<u8>, index: usize) {
        let (uid, flags) = &self.messages[index];
        let mut line = format!("* {} FETCH (UID {uid} FLAGS ", index + 1).into_bytes();
        response::flags(&mut line, flags);
        line.extend_from_slice(b")\r\n");
        out.extend_from_slice(&line);
    }

    fn expunged(&mut self, out: &mut Vec<u8>, uid: u32) {
        if let Some(i) = self.position(uid) {
            self.messages.remove(i);
            self.announced -= 1;
            out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
        }
    }

    /// Reports the changes that may be reported now. Fails when the
    /// mailbox is gone.
    pub async fn sync(&mut self, _p: &Principal, out: &mut Vec<u8>, expunges_allowed: bool) -> Result<(), String> {
        let fresh = self.watch.drain().await.map_err(|e| e.to_string())?;
        self.pending.extend(fresh);
        loop {
            let held = self
                .pending
                .front()
                .is_some_and(|c| matches!(c.kind, ChangeKind::Expunged(_)) && !expunges_allowed);
            if held {
                break;
            }
            let Some(change) = self.pending.pop_front() else { break };
            match change.kind {
                ChangeKind::Added(list) => {
                    for (uid, flags) in list {
                        if self.messages.last().is_none_or(|(last, _)| *last < uid) {
                            self.messages.push((uid, flags));
                        }
                    }
                }
                ChangeKind::FlagsChanged { messages, only_for } => {
                    let shared_change = only_for.is_none() && self.per_user_seen;
                    for (uid, flags) in messages {
                        let Some(i) = self.position(uid) else { continue };
                        let mut new = flags;
                        if shared_change {
                            // The log carries the shared flags; \Seen stays this user's own.
                            new.remove(SystemFlag::Seen);
                            if self.messages[i].1.contains(SystemFlag::Seen) {
                                new.insert(SystemFlag::Seen);
                            }
                        }
                        if new != self.messages[i].1 {
                            self.messages[i].1 = new;
                            if i < self.announced {
                                self.fetch_flags(out, i);
                            }
                        }
                    }
                }
                ChangeKind::Expunged(uids) => {
                    self.announce(out);
                    for uid in uids {
                        self.expunged(out, uid);
                    }
                }
                ChangeKind::MailboxDeleted => return Err("The selected mailbox was deleted".into()),
                ChangeKind::MailboxCreated | ChangeKind::MailboxRenamed(_) | ChangeKind::AclChanged => {}
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
        let last_uid = self.messages[..count].last().map_or(0, |(u, _)| *u);
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
                let start = self.messages[..count].partition_point(|(u, _)| *u < lo);
                let end = self.messages[..count].partition_point(|(u, _)| *u <= hi);
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
        indices.iter().map(|&i| self.messages[i].0).collect()
    }

    fn writable(&self) -> Result<(), Failure> {
        if self.read_only {
            Err(Failure::No("[READ-ONLY] The mailbox is open read-only".into()))
        } else {
            Ok(())
        }
    }

    /// CLOSE: expunges silently where allowed.
    pub async fn close(&mut self, service: &Service, p: &Principal) {
        if !self.read_only {
            let _ = service.expunge_in(p, &mut self.handle, None).await;
        }
    }

    pub async fn expunge(&mut self, cx: Cx<'_>, set: Option<&SequenceSet>) -> Outcome {
        let Cx { service, p, out } = cx;
        self.writable()?;
        let only = match set {
            Some(set) => Some(self.uids(&self.resolve(set, true)?)),
            None => None,
        };
        let gone = service.expunge_in(p, &mut self.handle, only.as_deref()).await?;
        for uid in gone {
            self.expunged(out, uid);
        }
        Ok("EXPUNGE completed".into())
    }

    pub async fn store(
        &mut self,
        cx: Cx<'_>,
        set: &SequenceSet,
        uid: bool,
        op: FlagOp,
        silent: bool,
        flags: &Flags,
    ) -> Outcome {
        let Cx { service, p, out } = cx;
        self.writable()?;
        let indices = self.resolve(set, uid)?;
        let uids = self.uids(&indices);
        let changed = service.store_flags_in(p, &mut self.handle, &uids, op, flags).await?;
        for (uid, flags) in changed {
            if let Some(i) = self.position(uid) {
                self.messages[i].1 = flags;
            }
        }
        if !silent {
            for i in indices {
                self.fetch_flags(out, i);
            }
        }
        Ok("STORE completed".into())
    }

    pub async fn copy(&mut self, cx: Cx<'_>, set: &SequenceSet, uid: bool, target: &str, moving: bool) -> Outcome {
        let Cx { service, p, out } = cx;
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
        for uid in moved {
            self.expunged(out, uid);
        }
        Ok("MOVE completed".into())
    }

    pub async fn search(&mut self, cx: Cx<'_>, uid: bool, key: &Key) -> Outcome {
        let Cx { service, p, out } = cx;
        let count = self.announced;
        let rows = service.messages_in(p, &mut self.handle).await?;
        let rows: HashMap<u32, MessageRow> = rows.into_iter().map(|r| (r.uid, r)).collect();
        let last_uid = self.messages[..count].last().map_or(0, |(u, _)| *u);
        let mut found = Vec::new();
        for chunk in (0..count).collect::<Vec<_>>().chunks(BATCH) {
            let texts: HashMap<u32, mime::Searchable> = if key.needs_content() {
                let uids = self.uids(chunk);
                let contents = service.contents_in(p, &mut self.handle, &uids).await?;
                contents
                    .into_iter()
                    .map(|(row, bytes)| (row.uid, mime::searchable(&bytes)))
                    .collect()
            } else {
                HashMap::new()
            };
            for &i in chunk {
                let (message_uid, flags) = &self.messages[i];
                // Expunged by someone else while we still show it: no match.
                let Some(row) = rows.get(message_uid) else { continue };
                let candidate = Candidate {
                    seq: i as u32 + 1,
                    uid: *message_uid,
                    flags,
                    internal_date: row.internal_date,
                    size: row.size,
                    last_seq: count as u32,
                    last_uid,
                };
                if key.matches(&candidate, texts.get(message_uid)) {
                    found.push(if uid { *message_uid } else { i as u32 + 1 });
                }
            }
        }
        let mut line = String::from("* SEARCH");
        for n in found {
            line.push_str(&format!(" {n}"));
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
        Ok("SEARCH completed".into())
    }

    pub async fn fetch(&mut self, cx: Cx<'_>, set: &SequenceSet, uid: bool, items: &[FetchItem]) -> Outcome {
        let Cx { service, p, out } = cx;
        let indices = self.resolve(set, uid)?;
        let mut items = items.to_vec();
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
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
                    FetchItem::Rfc822 | FetchItem::Rfc822Text | FetchItem::Section { peek: false, .. }
                )
            });
        let newly_seen = if sets_seen {
            self.mark_seen(service, p, &indices).await
        } else {
            HashSet::new()
        };
        // Without bodies, one query reads every row needed.
        let mut rows_only: HashMap<u32, (MessageRow, Option<Vec<u8>>)> = HashMap::new();
        if needs_rows && !needs_content {
            let wanted: HashSet<u32> = self.uids(&indices).into_iter().collect();
            let rows = service.messages_in(p, &mut self.handle).await?;
            rows_only = rows
                .into_iter()
                .filter(|r| wanted.contains(&r.uid))
                .map(|r| (r.uid, (r, None)))
                .collect();
        }
        let mut missing = 0;
        for chunk in indices.chunks(BATCH) {
            let with_bodies: HashMap<u32, (MessageRow, Option<Vec<u8>>)> = if needs_content {
                let uids = self.uids(chunk);
                let contents = service.contents_in(p, &mut self.handle, &uids).await?;
                contents.into_iter().map(|(r, b)| (r.uid, (r, Some(b)))).collect()
            } else {
                HashMap::new()
            };
            let loaded = if needs_content { &with_bodies } else { &rows_only };
            for &i in chunk {
                let (message_uid, flags) = &self.messages[i];
                let data = loaded.get(message_uid);
                if needs_rows && data.is_none() {
                    missing += 1;
                    continue;
                }
                let mut line = format!("* {} FETCH (", i + 1).into_bytes();
                let mut first = true;
                for item in &items {
                    if !first {
                        line.push(b' ');
                    }
                    first = false;
                    write_item(&mut line, item, *message_uid, flags, data);
                }
                if newly_seen.contains(message_uid) && !items.contains(&FetchItem::Flags) {
                    line.extend_from_slice(b" FLAGS ");
                    response::flags(&mut line, flags);
                }
                line.extend_from_slice(b")\r\n");
                out.extend_from_slice(&line);
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
    async fn mark_seen(&mut self, service: &Service, p: &Principal, indices: &[usize]) -> HashSet<u32> {
        let unseen: Vec<u32> = indices
            .iter()
            .filter(|&&i| !self.messages[i].1.contains(SystemFlag::Seen))
            .map(|&i| self.messages[i].0)
            .collect();
        if unseen.is_empty() {
            return HashSet::new();
        }
        let mut seen = Flags::default();
        seen.insert(SystemFlag::Seen);
        let Ok(changed) = service
            .store_flags_in(p, &mut self.handle, &unseen, FlagOp::Add, &seen)
            .await
        else {
            return HashSet::new();
        };
        let mut out = HashSet::new();
        for (uid, flags) in changed {
            if let Some(i) = self.position(uid) {
                self.messages[i].1 = flags;
                out.insert(uid);
            }
        }
        out
    }
}

fn write_item(
    line: &mut Vec<u8>,
    item: &FetchItem,
    uid: u32,
    flags: &Flags,
    data: Option<&(MessageRow, Option<Vec<u8>>)>,
) {
    let row = data.map(|(r, _)| r);
    let bytes: &[u8] = data.and_then(|(_, b)| b.as_deref()).unwrap_or_default();
    match item {
        FetchItem::Flags => {
            line.extend_from_slice(b"FLAGS ");
            response::flags(line, flags);
        }
        FetchItem::Uid => line.extend_from_slice(format!("UID {uid}").as_bytes()),
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
            let data = mime::section(bytes, section);
            match (data, partial) {
                (Some(data), Some((start, count))) => {
                    line.extend_from_slice(format!("<{start}> ").as_bytes());
                    let from = (*start as usize).min(data.len());
                    let to = from.saturating_add(*count as usize).min(data.len());
                    response::string(line, &data[from..to]);
                }
                (Some(data), None) => {
                    line.push(b' ');
                    response::string(line, &data);
                }
                (None, _) => line.extend_from_slice(b" NIL"),
            }
        }
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
    fn internal_dates() {
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(internal_date(1_795_883_860), "28-Nov-2026 16:37:40 +0000");
    }
}
