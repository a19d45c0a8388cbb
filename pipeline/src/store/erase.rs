//! Erasure of visitors' facts, on request (RGPD art. 17): which rows of the fact tables belong to
//! a set of pseudonymous visitors. Staged hits, visits and usages carry the visitor; a refusal
//! carries it inside its (pseudonymized) properties. Aggregates that hold no visitor (the
//! per-service tagging counts) are left as they are, like any published figure above k.

use std::collections::{BTreeSet, HashSet};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use serde::Serialize;

use crate::error::PipelineError;
use collector::pseudonym::Pseudonym;
use collector::record::pseudonym_property;

/// What an erasure removed from a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErasedFacts {
    /// Days that held facts of the visitors.
    pub days: BTreeSet<NaiveDate>,
    /// Staged hits removed.
    pub hits: u64,
    /// Visits removed.
    pub visits: u64,
    /// Usage rows (visit × service, tool, device…) removed.
    pub usages: u64,
    /// Refusal rows (one per reason) removed.
    pub rejects: u64,
}

/// The visitors whose facts go.
#[derive(Debug, Clone)]
pub struct DoomedVisitors {
    bytes: HashSet<[u8; 16]>,
    /// Lower-case hex of each pseudonym.
    hex: Vec<String>,
    /// Each pseudonym as it appears in a refusal's JSON properties: `"pseudonym:<hex>"`.
    quoted: Vec<String>,
}

impl DoomedVisitors {
    /// These pseudonyms.
    pub fn new(visitors: &[[u8; 16]]) -> Self {
        DoomedVisitors {
            bytes: visitors.iter().copied().collect(),
            hex: visitors.iter().map(hex::encode).collect(),
            quoted: visitors.iter().map(|v| format!("\"{}\"", pseudonym_property(&Pseudonym(*v)))).collect(),
        }
    }

    /// The pseudonyms as lower-case hex (how the ClickHouse store keeps visitors).
    pub fn hex(&self) -> &[String] {
        &self.hex
    }

    /// The pseudonyms as JSON strings in a refusal's properties.
    pub fn quoted_properties(&self) -> &[String] {
        &self.quoted
    }

    /// Which rows of a fact batch stay: by its `visitor` column (binary) or, for refusals, its
    /// `properties` column.
    pub fn survivors(&self, batch: &RecordBatch) -> Result<BooleanArray, PipelineError> {
        let schema = batch.schema();
        if let Ok(i) = schema.index_of("visitor") {
            let visitors = batch.column(i).as_binary::<i32>();
            return Ok((0..batch.num_rows()).map(|r| Some(visitors.is_null(r) || !self.owns(visitors.value(r)))).collect());
        }
        if let Ok(i) = schema.index_of("properties") {
            let properties = batch.column(i).as_string::<i32>();
            return Ok((0..batch.num_rows())
                .map(|r| Some(properties.is_null(r) || !self.quoted.iter().any(|h| properties.value(r).contains(h.as_str()))))
                .collect());
        }
        Err(PipelineError::Store("a fact batch without a visitor or properties column".into()))
    }

    /// The digests under which these visitors are held out of staging
    /// ([`super::erasure_hold::hold_digest`]).
    pub fn hold_digests(&self) -> Vec<[u8; 32]> {
        self.bytes.iter().map(|v| super::erasure_hold::hold_digest(v)).collect()
    }

    fn owns(&self, visitor: &[u8]) -> bool {
        <[u8; 16]>::try_from(visitor).is_ok_and(|v| self.bytes.contains(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tagging::{rejects_batch, rejects_schema};
    use collector::record::DeadLetter;

    #[test]
    fn visitor_rows_and_refusals_holding_the_pseudonym_go() {
        let doomed = DoomedVisitors::new(&[[7; 16]]);
        let mut rows = crate::store::conformance::one_day_of_hits(50);
        rows.truncate(3);
        rows[1].visitor = [7; 16];
        let survivors = doomed.survivors(&crate::facts::hits_batch(&rows)).unwrap();
        assert_eq!(survivors.iter().map(Option::unwrap).collect::<Vec<_>>(), [true, false, true]);

        let letter = |at: &str| DeadLetter {
            received_ms: 0,
            format: tagging_plan::WireFormat::Xiti,
            site: None,
            plateforme: None,
            event: String::new(),
            reasons: vec![collector::record::StoredReason { code: "c".into(), field: "f".into(), value: None, message: String::new() }],
            properties: vec![("at".into(), at.into())],
        };
        let batch = rejects_batch(&[(0, letter(&format!("pseudonym:{}", "07".repeat(16)))), (1, letter(&format!("pseudonym:{}", "08".repeat(16))))]);
        assert_eq!(batch.schema(), rejects_schema());
        let survivors = doomed.survivors(&batch).unwrap();
        assert_eq!(survivors.iter().map(Option::unwrap).collect::<Vec<_>>(), [false, true]);
        assert_eq!(doomed.hex(), ["07".repeat(16)]);
    }
}
