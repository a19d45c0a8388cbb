//! The pipeline: reads the `HitLog` from its committed offset, cuts visits, and keeps per-day
//! facts (hits, visits, usages) in a [`RollupStore`] from which every indicator — visits, exact
//! unique visitors, page views, clicks, durations — is rolled up with Apache DataFusion for any
//! level (school → circonscription → département → académie → région → nation, ENT project,
//! platform, operator), period (day, ISO week, month, school year) and breakdown (profile,
//! service, tool, device, OS, browser). Definitions: `docs/INDICATORS.md`.

pub mod day_changes;
pub mod day_part;
pub mod engine;
pub mod error;
pub mod export;
pub mod fact_retention;
pub mod facts;
pub mod frozen;
pub mod hit_row;
pub mod materialize;
pub mod model;
pub mod names;
pub mod query;
pub mod reference;
pub mod sessionize;
pub mod staging_bound;
pub mod store;
pub mod suppression;
pub mod synthetic;
pub mod tagging;
pub mod visitor_slices;
pub mod year_to_date;

pub use engine::{Pipeline, PipelineConfig, Staged};
pub use error::PipelineError;
pub use model::{Breakdown, Level, Period};
pub use query::{IndicatorQuery, IndicatorRow};
pub use store::{ParquetRollupStore, RollupStore};
