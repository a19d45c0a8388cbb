//! The DNMA national tagging plan as data, and everything that needs only the plan.
//!
//! - [`plan`]: the versioned plan file (variables, rules, nomenclatures, territories), loaded with
//!   serde from TOML; the shipped plan is [`Plan::shipped`].
//! - [`wire`]: both wire formats (Piano Analytics SDK bodies, AT Internet `SmartTag` query strings)
//!   parsed into one [`RawHit`].
//! - [`validate`]: `RawHit -> Result<Hit, Vec<Rejection>>`, every reason at once, with stable codes.
//! - [`referential`]: UAI -> school and territories, from the Annuaire de l'éducation layout.
//! - [`batch`]: the request-line driver behind `dnma plan validate`.
//!
//! This crate does no network IO and has no async runtime: the collector, the pipeline and the
//! command line all call into it.

pub mod batch;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hit;
pub mod plan;
pub mod raw_hit;
pub mod referential;
pub mod uai;
pub mod validate;
pub mod wire;

pub use error::{PlanError, ReferentialError};
pub use hit::Hit;
pub use plan::Plan;
pub use raw_hit::{RawHit, WireFormat};
pub use referential::Referential;
pub use uai::Uai;
pub use validate::{Rejection, Validator, Warning};
