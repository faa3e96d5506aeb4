//! New messages (deliveries, APPENDs), written together.
//!
//! On SQLite one writer writes at a time. A delivery's own statements are
//! few; what costs is the transaction around them — its `BEGIN` and
//! `COMMIT`, each a hop to sqlx's worker thread and back, and the
//! full-text index, which writes a segment of its own at every commit and
//! merges them again later (about three times the cost of indexing the
//! same messages in one transaction). So messages that queue while
//! another writer has the turn are inserted by the next of them in one
//! transaction, each under its own UIDs and MODSEQ, in the order they
//! queued; the others only wait for its answer. Like every message write
//! the commit is then synced (`group_sync`) before any caller returns.
//! PostgreSQL inserts each in its own transaction (its writers do not take
//! turns); one message, as a delivery brings, in one statement
//! (`Store::insert_alone`).
//!
//! The same pattern as the flag changes' queue (`flags`), for the same
//! reason; sqlx has no such batching of its own.

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::messages::NewMessage;
use super::messages::{Ready, prepare};
use super::{Backend, Result, Store, StoreError};

/// How many queued inserts one transaction writes at most, and up to how
/// many bytes of new content (one bigger message is written alone).
const MAX_TOGETHER: usize = 32;
const MAX_BYTES_TOGETHER: usize = 8 * 1024 * 1024;

/// The UIDs of the inserted messages, in order, and their MODSEQ.
pub(super) type Inserted = (Vec<u32>, u64);

/// Messages to add to one mailbox, ready to be written.
pub(super) struct InsertWrite {
    pub(super) mailbox_id: i64,
    pub(super) messages: Vec<Ready>,
    pub(super) seen_reader: Option<i64>,
}

impl InsertWrite {
    fn bytes(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.new.as_ref().map_or(0, |(bytes, _)| bytes.len()))
            .sum()
    }
}

type Waiting = (InsertWrite, oneshot::Sender<Result<Inserted>>);

/// Inserts waiting for a writer (SQLite), each with where its answer goes.
#[derive(Default)]
pub(super) struct InsertQueue(Mutex<Vec<Waiting>>);

impl InsertQueue {
    fn push(&self, write: InsertWrite) -> oneshot::Receiver<Result<Inserted>> {
        let (reply, answer) = oneshot::channel();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((write, reply));
        answer
    }

    /// The first queued, in order: at most [`MAX_TOGETHER`], and no more
    /// than [`MAX_BYTES_TOGETHER`] of content unless the first alone is.
    /// Messages whose callers went away meanwhile (their clients hung up)
    /// are dropped, as they would have been waiting for a turn alone.
    fn take(&self) -> Vec<Waiting> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        queue.retain(|(_, reply)| !reply.is_closed());
        let mut bytes = 0;
        let mut n = 0;
        for (write, _) in queue.iter().take(MAX_TOGETHER) {
            bytes += write.bytes();
            if n > 0 && bytes > MAX_BYTES_TOGETHER {
                break;
            }
            n += 1;
        }
        queue.drain(..n).collect()
    }
}

impl Store {
    /// Adds messages to a mailbox under new UIDs and one new MODSEQ. With
    /// `seen_reader` (a per-user seen mailbox) `\Seen` is recorded for that
    /// account only. Returns the UIDs, in order, and the MODSEQ, once they
    /// are on disk.
    pub async fn insert_messages(
        &self,
        mailbox_id: i64,
        messages: Vec<NewMessage>,
        seen_reader: Option<i64>,
    ) -> Result<Inserted> {
        let write = InsertWrite {
            mailbox_id,
            messages: prepare(messages),
            seen_reader,
        };
        let inserted = match self.backend {
            Backend::Sqlite => self.insert_together(write).await?,
            Backend::Postgres => match self.insert_alone(mailbox_id, &write.messages, seen_reader).await {
                Some(inserted) => inserted?,
                None => {
                    let mut tx = self.begin_in_turn(&self.pool).await?;
                    let inserted = self
                        .tx_insert(&mut tx, mailbox_id, &write.messages, seen_reader)
                        .await?;
                    tx.commit().await?;
                    inserted
                }
            },
        };
        self.synced().await?;
        Ok(inserted)
    }

    /// Queues `write` and waits: for its answer, when another writer took
    /// it along, or for the turn, to write what is queued (its own
    /// included) in one transaction and answer the others.
    async fn insert_together(&self, write: InsertWrite) -> Result<Inserted> {
        let mut answer = self.insert_queue.push(write);
        loop {
            let turn = tokio::select! {
                biased;
                done = &mut answer => return done.unwrap_or_else(|_| Err(unanswered())),
                turn = self.sqlite_turn() => turn,
            };
            match answer.try_recv() {
                Ok(done) => return done,
                Err(oneshot::error::TryRecvError::Closed) => return Err(unanswered()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // In a task of its own, which goes on if this caller is
            // dropped (its client went away): a batch cut off after its
            // COMMIT was sent to SQLite's thread is committed all the
            // same, and its callers must be told.
            let store = self.clone();
            let _ = tokio::spawn(async move {
                store.write_queued_inserts().await;
                drop(turn);
            })
            .await;
        }
    }

    /// Writes what [`InsertQueue::take`] gives in one transaction and
    /// answers each; call with the turn held. Committed, not yet synced:
    /// each caller syncs before it returns.
    async fn write_queued_inserts(&self) {
        let batch = self.insert_queue.take();
        if batch.is_empty() {
            return;
        }
        let writes: Vec<&InsertWrite> = batch.iter().map(|(w, _)| w).collect();
        match self.insert_in_one(&writes).await {
            Ok(answers) => {
                for ((_, reply), inserted) in batch.into_iter().zip(answers) {
                    let _ = reply.send(Ok(inserted));
                }
            }
            // One of several failed (its mailbox was deleted meanwhile,
            // say): each alone, so that each gets its own answer.
            Err(Failed::Message(_)) if batch.len() > 1 => {
                for (write, reply) in batch {
                    let alone = self.insert_in_one(&[&write]).await;
                    let _ = reply.send(alone.map(|mut answers| answers.remove(0)).map_err(Failed::into_error));
                }
            }
            Err(Failed::Message(e)) => {
                if let Some((_, reply)) = batch.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            // Nobody's message's fault (the database is locked by another
            // process past the busy timeout, say): trying each alone would
            // only keep every writer waiting longer.
            Err(Failed::Transaction(e)) => {
                let why = e.to_string();
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(why.clone()))));
                }
            }
        }
    }

    /// `writes` in one transaction of the writer holding the turn, on a
    /// connection whose commits are synced by `group_sync` afterwards.
    async fn insert_in_one(&self, writes: &[&InsertWrite]) -> std::result::Result<Vec<Inserted>, Failed> {
        let mut tx = self
            .begin_in_turn(self.unsynced_pool())
            .await
            .map_err(Failed::Transaction)?;
        let mut answers = Vec::with_capacity(writes.len());
        for write in writes {
            answers.push(
                self.tx_insert(&mut tx, write.mailbox_id, &write.messages, write.seen_reader)
                    .await
                    .map_err(Failed::Message)?,
            );
        }
        tx.commit().await.map_err(|e| Failed::Transaction(e.into()))?;
        Ok(answers)
    }
}

/// Why a batch was not written.
enum Failed {
    /// Writing one of its messages failed.
    Message(StoreError),
    /// Starting or committing the transaction failed.
    Transaction(StoreError),
}

impl Failed {
    fn into_error(self) -> StoreError {
        match self {
            Failed::Message(e) | Failed::Transaction(e) => e,
        }
    }
}

/// The answer when the writer that took a message stopped without giving
/// one (it panicked): whether it was stored is not known, so it is not
/// written again here; the client is told of a failure, and may send it
/// again.
fn unanswered() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}
