//! Handler tests through the real router (`oneshot`) over a real Parquet store filled by the
//! pipeline with synthetic traffic and dead letters: access rules, suppression at every output
//! (page, CSV, API, chart), the same numbers on the page and in the API, drill-down, filters,
//! errors with stable codes, and the OpenAPI document.

mod deployment;
mod pages;
mod support;
