//! The collector: HTTP intake of DNMA hits (Piano SDK `POST /event`, SmartTag `GET hit.xiti`),
//! validated with `tagging-plan`, pseudonymized, and appended to a [`log::HitLog`] (valid hits)
//! or to its dead-letter topic (refused hits with their reasons).
//!
//! - [`erasure`]: which stored records belong to a person whose erasure was asked;
//! - [`freshness`]: how far the figures are behind the acknowledged hits;
//! - [`http`]: the axum routes, CORS, limits, error answers, metrics;
//! - [`log`]: the hit log trait, its embedded implementation and its conformance suite;
//! - [`record`]: what is stored (never a raw user id, IP or User-Agent);
//! - [`pseudonym`]: keyed hashing of user ids with per-school-year keys;
//! - [`replay`]: dead letters validated again and the valid ones appended, once;
//! - [`retention`]: deleting log segments past their retention;
//! - [`useragent`]: device/OS/browser classes and bot detection.

pub mod erasure;
pub mod freshness;
pub mod http;
pub mod log;
pub mod pseudonym;
pub mod record;
pub mod replay;
pub mod retention;
pub mod useragent;
