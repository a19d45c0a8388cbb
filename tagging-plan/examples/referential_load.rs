//! Probe: times building the school referential, the shipped one (`Referential::shipped`, parsed
//! once per process) and, given folders, `Referential::load_dir` on each (e.g. one holding the
//! national Annuaire de l'éducation and enrolment files, for `--referential-dir`). Prints the
//! elapsed time, the number of schools and how many have a circonscription or an enrolment.
//! `cargo run --release -p tagging-plan --example referential_load -- [DIR…]`.

#![allow(missing_docs)]

use std::path::Path;
use std::time::Instant;

use tagging_plan::Referential;

fn report(what: &str, seconds: f64, referential: &Referential) {
    let circonscriptions = referential.schools().filter(|s| s.circonscription.is_some()).count();
    let enrolled = referential.schools().filter(|s| s.enrolment.is_some()).count();
    println!("{what}: {seconds:.3} s, {} schools, {circonscriptions} with a circonscription, {enrolled} with an enrolment", referential.len());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let shipped = Referential::shipped();
    report("shipped", start.elapsed().as_secs_f64(), shipped);
    for dir in std::env::args().skip(1) {
        let start = Instant::now();
        let loaded = Referential::load_dir(Path::new(&dir))?;
        report(&dir, start.elapsed().as_secs_f64(), &loaded);
    }
    Ok(())
}
