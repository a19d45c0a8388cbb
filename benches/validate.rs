//! Throughput of `dnma plan validate`'s core: request lines (Piano SDK bodies of 1-5 events and
//! `SmartTag` hits, ~3 % broken) parsed and validated against the shipped plan and referential.
//! Reported as hits/s. Also the collector's CPU work for one single-event SDK request, without
//! HTTP and disk (User-Agent class, parse, validate, pseudonym, encode, retry fingerprint): the
//! part of the request path the code controls. Run with `cargo bench --bench validate`.
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

/// The body `tools/wrk-event.lua` sends (one `page.display` event, with SDK properties).
const SDK_BODY: &str = r#"{"events":[{"name":"page.display","data":{"service":"CAHIER_TEXTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"u42","user_category":"ELEVE","page":"cahier_textes","site_level2":"0350122T","pageview_id":"pv-1-2-3","device_timestamp_utc":1763888400.5,"event_collection_platform":"js","event_collection_version":"6.17.0","device_screen_width":1920,"device_screen_height":1080,"visitor_privacy_mode":"exempt"}}]}"#;
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn collector_request_path(c: &mut Criterion) {
    use collector::record::StoredHit;
    use collector::useragent::{Client, UaClassifier};
    let plan = Plan::shipped();
    let referential = Referential::shipped();
    let keys_dir = tempfile::tempdir().expect("temp dir");
    let keys = collector::pseudonym::KeyRing::generated_in(keys_dir.path()).expect("key ring");
    let classifier = UaClassifier::default();
    let hasher = std::hash::RandomState::new();
    let query = "s=612345&idclient=wrk";
    let mut group = c.benchmark_group("collector_request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_sdk_event_without_io", |b| {
        b.iter(|| {
            let Client::Human(client) = classifier.classify(USER_AGENT) else { panic!("a browser") };
            let now = chrono::Utc::now();
            let raws = tagging_plan::wire::parse_piano(query, SDK_BODY.as_bytes()).expect("parses");
            let validator = Validator::new(&plan).with_referential(referential);
            let mut payloads = Vec::with_capacity(raws.len());
            for raw in &raws {
                let hit = validator.validate(raw).expect("valid");
                let visitor = keys.pseudonym(&hit.plateforme, &hit.visitor_id, now).expect("key");
                payloads.push(StoredHit::new(hit, visitor, client.clone(), now.timestamp_millis()).encode());
            }
            (payloads, std::hash::BuildHasher::hash_one(&hasher, (query, SDK_BODY.as_bytes())))
        });
    });
    group.finish();
}

criterion_group!(benches, validate_lines, collector_request_path);
criterion_main!(benches);
