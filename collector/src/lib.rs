//! The collector: HTTP intake of DNMA hits (Piano SDK `POST /event`, SmartTag `GET hit.xiti`),
//! validated with `tagging-plan`, pseudonymized, and appended to a `HitLog` (valid hits) or to
//! the dead-letter log (refused hits with their reasons).
//!
//! Not built yet: this crate holds nothing but this header until the collector issue lands
//! (see `docs/ARCHITECTURE.md` for its design). It is a workspace member so the layout and the
//! dependency graph are fixed from the start.
