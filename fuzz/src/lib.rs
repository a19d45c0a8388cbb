//! What the fuzz targets share: the shipped plan, parsed once per process.

use std::sync::OnceLock;

use tagging_plan::Plan;

/// The shipped plan, parsed once.
pub fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(Plan::shipped)
}
