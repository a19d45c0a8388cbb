//! The pipeline: reads the `HitLog` from its committed offset, computes visits, exact unique
//! visitors, page views, clicks and durations with Apache DataFusion, and writes rollups
//! (school -> circonscription -> département -> académie -> région -> nation, by period and
//! breakdown) to a `RollupStore`.
//!
//! Not built yet: this crate holds nothing but this header until the pipeline issue lands (see
//! `docs/ARCHITECTURE.md`).
