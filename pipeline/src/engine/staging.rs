//! Staging, the first half of a pipeline step: each topic's member of the consumer group reads
//! the log up to its end when the step began ([`crate::staging_bound`]), places each hit under its
//! school's local day, and stages it in the store before committing its offsets; dead letters
//! are staged beside the hits, at once. Visitors an erasure holds are left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use collector::log::{position, LogConsumer, Partition, Topic};
use collector::record::{DeadLetter, DeadLetterRecord, StoredHit};
use tracing::{info, warn};

use super::{Pipeline, Staged};
use crate::error::PipelineError;
use crate::facts::hits_batch;
use crate::hit_row::{HitRow, Placer};
use crate::staging_bound::StagingBound;
use crate::store::{DoomedVisitors, HeldVisitors};
use crate::tagging::{dead_letter_batch, reject_day, Recovery};

/// The letters (with their positions) and recoveries of one day and log partition, to stage.
type DeadLetterRows = (Vec<(u64, DeadLetter)>, Vec<Recovery>);

impl Pipeline {
    /// Stages what the log holds beyond the committed offsets, up to its end when staging
    /// began (records appended meanwhile wait for the next step, so steady traffic cannot keep
    /// a step staging forever); `on_batch` sees the progress after each committed batch.
    ///
    /// Hits and dead letters are staged at once: each topic has its own member, and a Kafka
    /// member's poll of a quiet topic (dead letters, mostly) waits a while before it counts as
    /// caught up, as does its first join of the group; in turn, those waits added up to most of
    /// a small step.
    pub async fn stage(&self, mut on_batch: impl FnMut(&Staged)) -> Result<Staged, PipelineError> {
        let mut members = self.members.lock().await;
        let [hits_member, rejects_member] = &mut *members;
        let (hits, rejects) = tokio::join!(self.stage_hits(hits_member, &mut on_batch), self.stage_rejects(rejects_member));
        let result = match (hits, rejects) {
            (Ok(mut staged), Ok((rejects, held))) => {
                staged.rejects = rejects;
                staged.held += held;
                Ok(staged)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if result.is_err() {
            // What was polled but not committed is read again by a fresh member, and what is
            // staged is asked again of the store.
            *members = [None, None];
            self.staged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
        result
    }

    /// This instance's member of the group on `topic`, joining it on first use.
    async fn member<'a>(&self, slot: &'a mut Option<Box<dyn LogConsumer>>, topic: Topic) -> Result<&'a mut Box<dyn LogConsumer>, PipelineError> {
        if slot.is_none() {
            *slot = Some(Arc::clone(&self.log).subscribe(&self.config.consumer, topic).await?);
        }
        Ok(slot.as_mut().expect("just set"))
    }

    /// The erased visitors held out of staging now.
    async fn held(&self) -> Result<HeldVisitors, PipelineError> {
        self.store.held_visitors(chrono::Utc::now().date_naive()).await
    }

    /// After a batch is staged: when an erasure began holding visitors since the batch read
    /// the holds, that erasure may have deleted their facts before the batch staged some of
    /// theirs, so those are deleted here. Returns the holds to use from now on.
    async fn erase_newly_held(&self, before: HeldVisitors, staged: impl IntoIterator<Item = [u8; 16]>) -> Result<HeldVisitors, PipelineError> {
        let now = self.held().await?;
        if now.len() > before.len() {
            let late: std::collections::BTreeSet<[u8; 16]> = staged.into_iter().filter(|v| now.holds(v)).collect();
            if !late.is_empty() {
                let erased = self.store.erase_visitors(&DoomedVisitors::new(&late.into_iter().collect::<Vec<_>>())).await?;
                info!(hits = erased.hits, rejects = erased.rejects, "facts staged during an erasure deleted");
            }
        }
        Ok(now)
    }

    async fn stage_hits(&self, slot: &mut Option<Box<dyn LogConsumer>>, on_batch: &mut impl FnMut(&Staged)) -> Result<Staged, PipelineError> {
        let mut bound = self.staging_bound(Topic::Hits).await?;
        let mut staged = Staged { end_offset: bound.end_offset(), next_offset: bound.next_offset(), ..Staged::default() };
        let member = self.member(slot, Topic::Hits).await?;
        let mut placer = Placer::new(&self.plan, &self.referential);
        let mut held = self.held().await?;
        let retired = self.store.facts_retired_through().await?;
        let mut records = member.poll(self.config.batch_records, self.config.poll_wait).await?;
        while !records.is_empty() {
            staged.records += records.len() as u64;
            let mut visitors: Vec<[u8; 16]> = Vec::with_capacity(records.len());
            let mut read: BTreeMap<Partition, u64> = BTreeMap::new();
            let mut by_day: BTreeMap<(NaiveDate, Partition), Vec<HitRow>> = BTreeMap::new();
            for record in records {
                let (partition, offset) = (record.partition, record.offset);
                let at = read.entry(partition).or_default();
                *at = (*at).max(offset + 1);
                let hit = StoredHit::decode(&record.payload).map_err(|e| PipelineError::Decode { offset, message: e.to_string() })?;
                if held.holds(&hit.visitor.0) {
                    staged.held += 1;
                    continue;
                }
                visitors.push(hit.visitor.0);
                match placer.row(position(partition, offset), hit) {
                    Ok(row) => by_day.entry((row.day, partition)).or_default().push(row),
                    Err(error) => {
                        warn!(%error, "hit skipped");
                        staged.unplaceable += 1;
                    }
                }
            }
            let mut batches = Vec::new();
            let mut highest: Vec<((NaiveDate, Partition), u64)> = Vec::new();
            for ((day, partition), rows) in by_day {
                if retired.is_some_and(|r| day <= r) {
                    staged.retired += rows.len() as u64;
                    continue;
                }
                let through = self.staged_through(day, partition).await?;
                let fresh: Vec<HitRow> = rows.into_iter().filter(|r| through.is_none_or(|t| r.offset > t)).collect();
                if let Some(last) = fresh.iter().map(|r| r.offset).max() {
                    staged.hits += fresh.len() as u64;
                    if let Some(newest) = fresh.iter().map(|r| r.time_ms).max() {
                        self.freshness.staged(newest);
                    }
                    highest.push(((day, partition), last));
                    batches.push((day, hits_batch(&fresh)));
                }
            }
            // The next batch is polled while this one is written (staging waited on one, then
            // the other); it is placed only once this one is staged and committed. Past the
            // bound nothing more is polled: a polled record must be staged, or its member would
            // not read it again.
            bound.read(&read);
            let done = bound.reached(member.owned().as_ref());
            let poll_next = async {
                if done {
                    Ok(Vec::new())
                } else {
                    member.poll(self.config.batch_records, self.config.poll_wait).await
                }
            };
            let (written, polled) = tokio::join!(self.store.stage_hits_batches(batches), poll_next);
            written?;
            self.note_staged(highest, retired);
            held = self.erase_newly_held(held, visitors).await?;
            member.commit(&read).await?;
            staged.next_offset = bound.next_offset();
            on_batch(&staged);
            records = polled?;
        }
        Ok(staged)
    }

    /// Where this step stops staging `topic`: its end now, read from the group's committed
    /// offsets.
    async fn staging_bound(&self, topic: Topic) -> Result<StagingBound, PipelineError> {
        let mut committed = BTreeMap::new();
        for partition in 0..self.log.partitions(topic).await? {
            committed.insert(partition, self.log.committed(&self.config.consumer, topic, partition).await?);
        }
        Ok(StagingBound::new(self.log.end_offsets(topic).await?, committed))
    }

    /// The highest position staged of a day and log partition: as this instance knows it, else
    /// as the store says.
    async fn staged_through(&self, day: NaiveDate, partition: Partition) -> Result<Option<u64>, PipelineError> {
        let known = self.staged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&(day, partition)).copied();
        if let Some(known) = known {
            return Ok(known);
        }
        let through = self.store.staged_through(day, partition).await?;
        self.staged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((day, partition), through);
        Ok(through)
    }

    /// Notes the highest positions just staged; forgets the days whose facts are retired.
    fn note_staged(&self, highest: Vec<((NaiveDate, Partition), u64)>, retired: Option<NaiveDate>) {
        let mut known = self.staged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, last) in highest {
            known.insert(key, Some(last));
        }
        if let Some(retired) = retired {
            known.retain(|(day, _), _| *day > retired);
        }
    }

    /// Stages the dead letters beyond the committed offsets, and what the replays' `Done` marks
    /// say was recovered (for the editors' conformance view); returns how many were read and how many of them were skipped as held.
    async fn stage_rejects(&self, slot: &mut Option<Box<dyn LogConsumer>>) -> Result<(u64, u64), PipelineError> {
        let (mut count, mut skipped) = (0, 0);
        let mut held = self.held().await?;
        let retired = self.store.facts_retired_through().await?;
        let mut bound = self.staging_bound(Topic::DeadLetters).await?;
        let member = self.member(slot, Topic::DeadLetters).await?;
        // The first poll comes whatever the bound: a Kafka member joins its group by polling.
        loop {
            let records = member.poll(self.config.batch_records, self.config.poll_wait).await?;
            if records.is_empty() {
                break;
            }
            count += records.len() as u64;
            let mut read: BTreeMap<Partition, u64> = BTreeMap::new();
            let mut by_day: BTreeMap<(NaiveDate, Partition), DeadLetterRows> = BTreeMap::new();
            let mut visitors: Vec<[u8; 16]> = Vec::new();
            for record in records {
                let (partition, offset) = (record.partition, record.offset);
                let at = read.entry(partition).or_default();
                *at = (*at).max(offset + 1);
                // Replay marks share the topic with the letters; they are not refusals, but a
                // `Done` mark says which refusals were recovered.
                let letter = match DeadLetterRecord::decode(&record.payload).map_err(|e| PipelineError::Decode { offset, message: e.to_string() })? {
                    DeadLetterRecord::Letter { letter, .. } => letter,
                    DeadLetterRecord::Mark(mark) => {
                        if let Some(recovery) = Recovery::of(position(partition, offset), &mark) {
                            by_day.entry((recovery.day(), partition)).or_default().1.push(recovery);
                        }
                        continue;
                    }
                };
                if held.holds_letter(&letter) {
                    skipped += 1;
                    continue;
                }
                visitors.extend(HeldVisitors::pseudonyms_in(&letter));
                by_day.entry((reject_day(letter.received_ms), partition)).or_default().0.push((position(partition, offset), letter));
            }
            for ((day, _), (letters, recoveries)) in by_day.into_iter().filter(|((day, _), _)| retired.is_none_or(|r| *day > r)) {
                self.store.stage_rejects(day, dead_letter_batch(&letters, &recoveries)).await?;
            }
            held = self.erase_newly_held(held, visitors).await?;
            member.commit(&read).await?;
            bound.read(&read);
            if bound.reached(member.owned().as_ref()) {
                break;
            }
        }
        Ok((count, skipped))
    }
}
