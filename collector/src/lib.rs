//! The collector: HTTP intake of DNMA hits (Piano SDK `POST /event`, SmartTag `GET hit.xiti`),
//! validated with `tagging-plan`, pseudonymized, and appended to a [`log::HitLog`] (valid hits)
//! or to the dead-letter topic (refused hits with their reasons).
//!
//! Built so far: [`log`], the hit log trait, its embedded implementation and its conformance
//! suite. The HTTP intake is designed in `docs/ARCHITECTURE.md` and not built yet.

pub mod log;
