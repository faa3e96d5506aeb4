//! Flag changes (IMAP STORE, POP3's `\Seen`, the web's buttons), written
//! together.
//!
//! On SQLite one writer writes at a time, and a STORE's own work is a few
//! rows; most of its cost is the transaction around it. So flag changes
//! that queue while another writer has the turn are written by the next
//! of them in one transaction, each under its own MODSEQ, in the order
//! they queued — the others only wait for its answer. PostgreSQL writes
//! each in its own transaction (its writers do not take turns).

use std::sync::Mutex;

use mailroom_shared::{FlagOp, FlagPermissions, Flags, SystemFlag};
use tokio::sync::oneshot;

use super::messages::{LogKind, MESSAGE_SELECT, MessageChange, Tx, log_message_change, message_from, set_seen};
use super::{Backend, Result, Store};
use crate::service::types::ChangedFlags;

/// Up to how many messages a STORE is looked at first, outside a
/// transaction, for the case that it changes nothing.
const NO_CHANGE_LOOK: usize = 8;

/// How many queued flag changes one transaction writes at most.
const MAX_TOGETHER: usize = 64;

/// The messages a flag change changed (changed ones only).
type Changed = Vec<ChangedFlags>;

/// Flag changes waiting for a writer (SQLite), each with where its
/// answer goes.
#[derive(Default)]
pub(super) struct FlagQueue(Mutex<Vec<(FlagWrite, oneshot::Sender<Result<Changed>>)>>);

impl FlagQueue {
    fn push(&self, write: FlagWrite) -> oneshot::Receiver<Result<Changed>> {
        let (reply, answer) = oneshot::channel();
        self.0.lock().expect("flag queue").push((write, reply));
        answer
    }

    /// The first `n` queued, in order.
    fn take(&self, n: usize) -> Vec<(FlagWrite, oneshot::Sender<Result<Changed>>)> {
        let mut queue = self.0.lock().expect("flag queue");
        let n = queue.len().min(n);
        queue.drain(..n).collect()
    }
}

/// One flag change to apply to some messages of a mailbox.
#[derive(Clone)]
struct FlagWrite {
    mailbox_id: i64,
    uids: Vec<u32>,
    change: FlagChange,
}

impl Store {
    /// Applies a flag change to the given UIDs (absent ones are skipped)
    /// under one new MODSEQ; `may` says which flags this principal may
    /// change. Returns each changed message's new flags as the actor sees
    /// them; when none changed, nothing was written.
    pub async fn update_flags(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        op: FlagOp,
        given: &Flags,
        may: FlagPermissions,
        seen_reader: Option<i64>,
    ) -> Result<Changed> {
        let change = FlagChange {
            op,
            given: given.clone(),
            may,
            seen_reader,
        };
        // A look first, outside any transaction: when every flag already
        // is as asked (a common STORE), nothing is written and no writer
        // waits. A change committed just after the look is simply later.
        if uids.len() <= NO_CHANGE_LOOK {
            let mut any = false;
            for &uid in uids {
                if let Some(row) = self.message(mailbox_id, uid, seen_reader).await? {
                    any |= change.outcome(&row.flags).as_reader != row.flags;
                }
            }
            if !any {
                return Ok(Vec::new());
            }
        }
        let write = FlagWrite {
            mailbox_id,
            uids: uids.to_vec(),
            change,
        };
        match self.backend {
            Backend::Sqlite => self.write_flags_together(write).await,
            Backend::Postgres => self.write_flags_alone(&write).await,
        }
    }

    /// Queues `write`, waits for the turn, and then either finds it done
    /// by the writer before, or writes what is queued (its own included)
    /// in one transaction and answers the others.
    async fn write_flags_together(&self, write: FlagWrite) -> Result<Changed> {
        let mut answer = self.flag_queue.push(write.clone());
        loop {
            let turn = self.sqlite_turn().await;
            match answer.try_recv() {
                Ok(done) => return done,
                // The writer that took it was cancelled (its session went
                // away) before answering: queue it again.
                Err(oneshot::error::TryRecvError::Closed) => answer = self.flag_queue.push(write.clone()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            self.write_queued_flags().await;
            drop(turn);
            // Not yet done only if more than MAX_TOGETHER were queued
            // before it: then in the next round.
            if let Ok(done) = answer.try_recv() {
                return done;
            }
        }
    }

    /// Writes up to MAX_TOGETHER queued flag changes in one transaction
    /// and answers them; call with the turn held.
    async fn write_queued_flags(&self) {
        let batch = self.flag_queue.take(MAX_TOGETHER);
        let writes: Vec<&FlagWrite> = batch.iter().map(|(w, _)| w).collect();
        match self.write_flags_in_one(&writes).await {
            Ok(answers) => {
                for ((_, reply), changed) in batch.into_iter().zip(answers) {
                    let _ = reply.send(Ok(changed));
                }
            }
            // Failed as a whole: each alone, so that each gets its own
            // answer.
            Err(_) => {
                for (write, reply) in batch {
                    let alone = self.write_flags_in_one(&[&write]).await;
                    let _ = reply.send(alone.map(|mut answers| answers.remove(0)));
                }
            }
        }
    }

    /// `writes` in one transaction of the writer holding the turn; their
    /// commit is not synced (see [`Store::write_unsynced`]).
    async fn write_flags_in_one(&self, writes: &[&FlagWrite]) -> Result<Vec<Changed>> {
        let mut tx = self.begin_in_turn(self.unsynced_pool()).await?;
        let mut answers = Vec::with_capacity(writes.len());
        for write in writes {
            answers.push(self.tx_update_flags(&mut tx, write, None).await?);
        }
        tx.commit().await?;
        Ok(answers)
    }

    /// PostgreSQL: one flag change, one transaction. The MODSEQ is taken
    /// first: it locks the mailbox's row, so that concurrent changes of the
    /// same messages read each other's result instead of overwriting it.
    async fn write_flags_alone(&self, write: &FlagWrite) -> Result<Changed> {
        let (_turn, mut tx) = self.write_unsynced().await?;
        let modseq = self.bump_modseq(&mut tx, write.mailbox_id).await?;
        let changed = self.tx_update_flags(&mut tx, write, Some(modseq)).await?;
        if changed.is_empty() {
            tx.rollback().await?; // the MODSEQ goes back
        } else {
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Applies one flag change under `modseq`, or — when `None`, for a
    /// writer that holds SQLite's turn — under a new MODSEQ taken at the
    /// first message that changes (none when none does).
    async fn tx_update_flags(&self, tx: &mut Tx, write: &FlagWrite, mut modseq: Option<i64>) -> Result<Changed> {
        let FlagWrite {
            mailbox_id,
            ref uids,
            ref change,
        } = *write;
        let mut changed = Vec::new();
        for &uid in uids {
            let sql = format!("{MESSAGE_SELECT} AND m.uid = $3");
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(mailbox_id)
                .bind(change.seen_reader.unwrap_or(0))
                .bind(i64::from(uid))
                .fetch_optional(&mut **tx)
                .await?
            else {
                continue;
            };
            let old = message_from(&row)?.flags;
            let new = change.outcome(&old);
            if new.as_reader == old && new.shared == new.shared_old {
                continue;
            }
            let modseq = match modseq {
                Some(m) => m,
                None => *modseq.insert(self.bump_modseq(tx, mailbox_id).await?),
            };
            if new.shared != new.shared_old {
                self.tx_set_flags(tx, mailbox_id, uid, &new.shared, modseq).await?;
            }
            if let Some(reader) = change.seen_reader
                && new.as_reader.contains(SystemFlag::Seen) != old.contains(SystemFlag::Seen)
            {
                let now_seen = new.as_reader.contains(SystemFlag::Seen);
                set_seen(tx, mailbox_id, uid, reader, now_seen).await?;
                let logged = MessageChange {
                    mailbox_id,
                    modseq,
                    kind: LogKind::Flags,
                    uid,
                    flags: Some(&new.as_reader),
                    account_id: Some(reader),
                    detail: None,
                };
                log_message_change(tx, self, logged).await?;
            }
            if new.as_reader != old {
                changed.push(ChangedFlags {
                    uid,
                    flags: new.as_reader,
                    modseq: modseq as u64,
                });
            }
        }
        Ok(changed)
    }
}

/// A flag change as one principal asks it.
#[derive(Clone)]
struct FlagChange {
    op: FlagOp,
    given: Flags,
    may: FlagPermissions,
    /// The principal's account in a per-user `\Seen` mailbox.
    seen_reader: Option<i64>,
}

/// What a [`FlagChange`] makes of one message's flags.
struct FlagOutcome {
    /// The shared flags before and after (without a reader's `\Seen`).
    shared_old: Flags,
    shared: Flags,
    /// The flags as the principal sees them afterwards.
    as_reader: Flags,
}

impl FlagChange {
    /// `old`: the flags as the principal sees them.
    fn outcome(&self, old: &Flags) -> FlagOutcome {
        let shared_may = FlagPermissions {
            seen: self.may.seen && self.seen_reader.is_none(),
            ..self.may
        };
        let mut shared_old = old.clone();
        if self.seen_reader.is_some() {
            shared_old.remove(SystemFlag::Seen);
        }
        let shared = shared_old.apply(self.op, &self.given, shared_may);
        let mut as_reader = shared.clone();
        if self.seen_reader.is_some() && old.apply(self.op, &self.given, self.may).contains(SystemFlag::Seen) {
            as_reader.insert(SystemFlag::Seen);
        }
        FlagOutcome {
            shared_old,
            shared,
            as_reader,
        }
    }
}
