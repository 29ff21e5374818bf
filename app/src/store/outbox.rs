//! The durable outbox: commands waiting to be delivered to n8n or
//! RabbitMQ. A command's utterance and its jobs are written in one
//! transaction, and a job leaves the outbox only after its delivery
//! succeeded, so a crash, a restart or a long outage loses nothing.
//!
//! Job ids are microseconds since the epoch when the job was queued (made
//! unique), so the table's key order is the order commands were spoken.
//! Value encoding (version 1, postcard): `kind` (variant index: 0 n8n,
//! 1 RabbitMQ), `utterance_id: u64, profile: str, agent: str, text: str,
//! attempts: u32, last_error: str`.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use tonnytray_migrations::schema::OUTBOX;

use super::records::{self, DecodeError, Utterance};
use super::{Store, StoreError, damaged};

/// Where a job goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobKind {
    /// The n8n command webhook.
    N8n,
    /// A RabbitMQ event.
    Rabbitmq,
}

impl JobKind {
    /// Its name in the UI and logs.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::N8n => "n8n",
            Self::Rabbitmq => "RabbitMQ",
        }
    }
}

/// One pending delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxJob {
    /// Key: µs when queued; unique, ordered.
    #[serde(skip)]
    pub id: u64,
    /// Where it goes.
    pub kind: JobKind,
    /// The utterance it came from (sent along for de-duplication).
    pub utterance_id: u64,
    /// Whose command.
    pub profile: String,
    /// The profile's preferred n8n agent (empty: none).
    pub agent: String,
    /// The command's words (after the prefix).
    pub text: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed (empty: not tried yet).
    pub last_error: String,
}

fn encode(job: &OutboxJob) -> Vec<u8> {
    records::with_version(postcard::to_stdvec(job))
}

fn decode(id: u64, bytes: &[u8]) -> Result<OutboxJob, DecodeError> {
    let body = records::body("outbox job", id.to_string(), bytes)?;
    let (job, _): (OutboxJob, _) = postcard::take_from_bytes(body)
        .map_err(|e| records::bad("outbox job", id.to_string(), &e))?;
    Ok(OutboxJob { id, ..job })
}

impl Store {
    /// Saves a command's utterance together with its outbox jobs, in one
    /// durable transaction; returns the utterance id used (jobs carry it).
    ///
    /// # Errors
    /// On any write failure nothing is saved.
    pub fn add_command(&self, u: &Utterance, jobs: &[OutboxJob]) -> Result<u64, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let id = self.insert_utterance(&txn, u)?;
            {
                let mut table = txn.open_table(OUTBOX).map_err(|e| self.err(e))?;
                let mut key = records::micros(std::time::SystemTime::now());
                if let Some(last) = table.last().map_err(|e| self.err(e))? {
                    key = key.max(last.0.value() + 1);
                }
                for job in jobs {
                    let job = OutboxJob {
                        id: key,
                        utterance_id: id,
                        ..job.clone()
                    };
                    table
                        .insert(key, encode(&job).as_slice())
                        .map_err(|e| self.err(e))?;
                    key += 1;
                }
            }
            txn.commit().map_err(|e| self.err(e))?;
            Ok(id)
        })
    }

    /// Every pending job, oldest first.
    ///
    /// # Errors
    /// When the file cannot be read or a job is damaged.
    pub fn outbox(&self) -> Result<Vec<OutboxJob>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(OUTBOX).map_err(|e| self.err(e))?;
            let mut out = Vec::with_capacity(
                usize::try_from(table.len().map_err(|e| self.err(e))?).unwrap_or(0),
            );
            for entry in table.iter().map_err(|e| self.err(e))? {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                out.push(decode(k.value(), v.value()).map_err(|e| damaged(&self.path, &e))?);
            }
            Ok(out)
        })
    }

    /// Records a failed attempt (attempts and the error), durably.
    ///
    /// # Errors
    /// On a write failure.
    pub fn update_job(&self, job: &OutboxJob) -> Result<(), StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            {
                let mut table = txn.open_table(OUTBOX).map_err(|e| self.err(e))?;
                // A job removed meanwhile (delivered, discarded) stays removed.
                if table.get(job.id).map_err(|e| self.err(e))?.is_none() {
                    return Ok(());
                }
                table
                    .insert(job.id, encode(job).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            txn.commit().map_err(|e| self.err(e))
        })
    }

    /// Removes a delivered (or discarded) job, and with `command_ms`
    /// records the delivery latency on its utterance, in one transaction.
    /// Returns whether the job was there.
    ///
    /// # Errors
    /// On a write failure (the job stays and is delivered again: delivery
    /// is at-least-once, the utterance id lets the receiver de-duplicate).
    pub fn finish_job(
        &self,
        job_id: u64,
        command_ms: Option<(u64, u32)>,
    ) -> Result<bool, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let was_there = {
                let mut table = txn.open_table(OUTBOX).map_err(|e| self.err(e))?;
                table.remove(job_id).map_err(|e| self.err(e))?.is_some()
            };
            if let Some((utterance, ms)) = command_ms {
                self.change_utterance(&txn, utterance, |u| u.latency.command_ms = Some(ms))?;
            }
            txn.commit().map_err(|e| self.err(e))?;
            Ok(was_there)
        })
    }

    /// Pending jobs.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(OUTBOX).map_err(|e| self.err(e))?;
            table.len().map_err(|e| self.err(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::utterance;

    fn job(kind: JobKind, text: &str) -> OutboxJob {
        OutboxJob {
            id: 0,
            kind,
            utterance_id: 0,
            profile: "Dad".into(),
            agent: "house".into(),
            text: text.into(),
            attempts: 0,
            last_error: String::new(),
        }
    }

    #[test]
    fn jobs_are_saved_with_their_utterance_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        let store = Store::open(&path).expect("open");
        let mut ids = Vec::new();
        for i in 0..5 {
            let text = format!("lights {i}");
            let u = utterance(1_000 + i, &text);
            let id = store
                .add_command(
                    &u,
                    &[job(JobKind::N8n, &text), job(JobKind::Rabbitmq, &text)],
                )
                .expect("add");
            ids.push(id);
        }
        drop(store);
        let store = Store::open(&path).expect("reopen");
        let jobs = store.outbox().expect("outbox");
        assert_eq!(jobs.len(), 10);
        let texts: Vec<_> = jobs
            .iter()
            .filter(|j| j.kind == JobKind::N8n)
            .map(|j| j.text.clone())
            .collect();
        assert_eq!(
            texts,
            (0..5).map(|i| format!("lights {i}")).collect::<Vec<_>>()
        );
        let uids: Vec<_> = jobs
            .iter()
            .filter(|j| j.kind == JobKind::N8n)
            .map(|j| j.utterance_id)
            .collect();
        assert_eq!(uids, ids);
        assert!(jobs.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(
            store.utterance(ids[0]).expect("read").expect("saved").text,
            "lights 0"
        );
    }

    #[test]
    fn a_failed_attempt_is_recorded_and_a_finished_job_leaves_with_its_latency() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.redb")).expect("open");
        let uid = store
            .add_command(&utterance(5, "x"), &[job(JobKind::N8n, "x")])
            .expect("add");
        let mut j = store.outbox().expect("outbox").remove(0);
        j.attempts = 3;
        j.last_error = "n8n is not reachable".into();
        store.update_job(&j).expect("update");
        assert_eq!(store.outbox().expect("outbox")[0], j);
        assert!(store.finish_job(j.id, Some((uid, 42))).expect("finish"));
        assert_eq!(store.outbox_len().expect("len"), 0);
        assert_eq!(
            store
                .utterance(uid)
                .expect("read")
                .expect("there")
                .latency
                .command_ms,
            Some(42)
        );
        // Updating or finishing a job that is gone changes nothing.
        store.update_job(&j).expect("update gone");
        assert_eq!(store.outbox_len().expect("len"), 0);
        assert!(!store.finish_job(j.id, None).expect("finish again"));
    }

    #[test]
    fn a_full_disk_saves_a_command_whole_or_not_at_all() {
        use crate::store::testing::SmallDisk;
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        let limit = Arc::new(AtomicU64::new(4 << 20));
        let memory = Arc::new(redb::backends::InMemoryBackend::new());
        let disk = || SmallDisk {
            inner: Arc::clone(&memory),
            limit: Arc::clone(&limit),
        };
        let path = std::path::Path::new("/small/disk.redb");
        let store = Store::with_backend(disk(), path).expect("open");
        let words = "please turn on the lights in the kitchen ".repeat(20);
        let mut saved = 0_u64;
        let err = loop {
            let u = utterance(saved + 1, &words);
            match store.add_command(
                &u,
                &[job(JobKind::N8n, &words), job(JobKind::Rabbitmq, &words)],
            ) {
                Ok(_) => saved += 1,
                Err(e) => break e,
            }
            assert!(saved < 100_000, "the small disk never filled");
        };
        assert!(matches!(err, StoreError::DiskFull(_)), "{err}");
        limit.store(64 << 20, std::sync::atomic::Ordering::SeqCst);
        drop(store);
        let store = Store::with_backend(disk(), path).expect("reopen");
        assert_eq!(store.count().expect("count"), saved);
        assert_eq!(store.outbox_len().expect("len"), 2 * saved);
    }
}
