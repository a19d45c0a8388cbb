//! The dashboards: server-rendered pages, charts and a JSON API over the `RollupStore`, for
//! national analysts (territories), project owners (deployment) and ENT editors (tagging
//! conformance).
//!
//! Not built yet: this crate holds nothing but this header until the dashboards issue lands (see
//! `docs/ARCHITECTURE.md`).
