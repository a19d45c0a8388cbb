//! Throughput of `dnma plan validate`'s core: request lines (Piano SDK bodies of 1-5 events and
//! `SmartTag` hits, ~3 % broken) parsed and validated against the shipped plan and referential.
//! Reported as hits/s. Run with `cargo bench --bench validate`.
#![allow(missing_docs)]

/// The binary's allocator, so the figure is the one the collector gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dnma::sample::SampleGenerator;
use tagging_plan::batch::LineValidator;
use tagging_plan::{Plan, Referential, Validator};

fn validate_lines(c: &mut Criterion) {
    let lines: Vec<String> = SampleGenerator::new(42).take(1_000).collect();
    let plan = Plan::shipped();
    let referential = Referential::shipped();
    let hits: usize = {
        let mut v = LineValidator::new(Validator::new(&plan).with_referential(referential), None);
        lines.iter().enumerate().map(|(i, l)| v.line(i + 1, l).len()).sum()
    };
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(hits as u64));
    group.bench_function("1000_mixed_request_lines", |b| {
        b.iter(|| {
            let mut v = LineValidator::new(Validator::new(&plan).with_referential(referential), None);
            lines.iter().enumerate().map(|(i, l)| v.line(i + 1, l).len()).sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, validate_lines);
criterion_main!(benches);
