//! `dnma plan validate | show | sample` as a user runs them.

use super::{dnma, json_lines};

#[test]
fn validates_a_thousand_mixed_requests_and_summarizes() {
    let sample = dnma(&["plan", "sample", "--count", "1200", "--seed", "3"], None);
    assert!(sample.status.success());
    assert_eq!(String::from_utf8_lossy(&sample.stdout).lines().count(), 1200);
    let out = dnma(&["plan", "validate", "-"], Some(&sample.stdout));
    assert_eq!(out.status.code(), Some(1), "some sample hits are invalid on purpose");
    let outcomes = json_lines(&out);
    assert!(outcomes.len() > 1200, "SDK bodies carry several events");
    let valid = outcomes.iter().filter(|o| o["ok"] == true).count();
    let invalid = outcomes.len() - valid;
    assert!(invalid > 0 && valid > invalid * 5);
    for o in &outcomes {
        assert!(o["line"].as_u64().unwrap() >= 1);
        if o["ok"] == true {
            assert_eq!(o["hit"]["plan_version"], "1.0.0");
        } else {
            assert!(!o["reasons"].as_array().unwrap().is_empty());
            assert!(o["reasons"][0]["code"].is_string() && o["reasons"][0]["message"].is_string());
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("1200 lines, {} hits: {valid} valid", outcomes.len())), "{stderr}");
}

#[test]
fn exit_codes_say_valid_invalid_unreadable() {
    let good = b"/hit.xiti?s=1&at=u&ac=1&service=NOTES&type=NATIF&uai=0350122T&projet=P&exploitant=E&plateforme=X\n";
    assert_eq!(dnma(&["plan", "validate", "-"], Some(good)).status.code(), Some(0));
    let bad = b"/hit.xiti?s=1&at=u&ac=1&service=NOTES&type=NATIF&uai=0350122A&projet=P&exploitant=E&plateforme=X\n";
    let out = dnma(&["plan", "validate", "-"], Some(bad));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["reasons"][0]["code"], "uai_check_letter");
    let missing = dnma(&["plan", "validate", "/nonexistent/capture.txt"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/capture.txt"));
}

#[test]
fn forced_format_and_non_utf8_lines() {
    let line = b"/collect?s=1&at=u&ac=1&service=NOTES&type=NATIF&uai=0350122T&projet=P&exploitant=E&plateforme=X\n\xff\xfe\n";
    let out = dnma(&["plan", "validate", "--format", "xiti", "-"], Some(line));
    let outcomes = json_lines(&out);
    assert_eq!(outcomes[0]["ok"], true);
    assert_eq!((outcomes[1]["line"].as_u64(), &outcomes[1]["reasons"][0]["code"]), (Some(2), &serde_json::json!("line_not_utf8")));
}

#[test]
fn another_plan_file_is_applied_and_recorded() {
    let dir = std::env::temp_dir().join(format!("dnma-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = dnma(&["plan", "show", "--json"], None);
    assert!(shipped.status.success());
    // A local variant: version 1.1.0, where OUTIL becomes required.
    let mut plan: serde_json::Value = serde_json::from_slice(&shipped.stdout).unwrap();
    plan["plan"]["version"] = "1.1.0".into();
    for v in plan["variables"].as_array_mut().unwrap() {
        if v["name"] == "OUTIL" {
            v["required"] = true.into();
        }
    }
    let toml_text = toml_from_json(&plan);
    let path = dir.join("plan.toml");
    std::fs::write(&path, toml_text).unwrap();
    let line = b"/hit.xiti?s=1&at=u&ac=1&service=NOTES&type=NATIF&uai=0350122T&projet=P&exploitant=E&plateforme=X\n";
    let out = dnma(&["--plan", path.to_str().unwrap(), "plan", "validate", "-"], Some(line));
    let outcome = &json_lines(&out)[0];
    assert_eq!(outcome["reasons"][0]["code"], "missing_outil", "{outcome}");
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[plan]\nid = 1\n").unwrap();
    let out = dnma(&["--plan", broken.to_str().unwrap(), "plan", "show"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loading plan"));
}

#[test]
fn show_prints_variables_and_nomenclatures() {
    let out = dnma(&["plan", "show"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["SERVICE", "one of services", "RESSOURCE_ACCOMPAGNEMENT_ENTRAINEMENT", "ADMIN_VIE_SCOL_TECH", "x2", "105 départements"] {
        assert!(text.contains(needle), "{needle} missing from plan show");
    }
}

/// JSON -> TOML through serde (the plan's own layout round-trips).
fn toml_from_json(value: &serde_json::Value) -> String {
    let file: tagging_plan::plan::PlanFile = serde_json::from_value(value.clone()).unwrap();
    toml::to_string(&file).unwrap()
}
