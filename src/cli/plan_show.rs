//! `dnma plan show`: the plan as readable tables (or JSON).

use std::fmt::Write as _;
use std::process::ExitCode;

use tagging_plan::plan::Rule;
use tagging_plan::Plan;

pub fn run(plan: &Plan, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan.file())?);
    } else {
        print!("{}", render(plan));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let header = plan.header();
    let _ = writeln!(out, "{} — {} version {}\n", header.title, header.id, header.version);
    let _ = writeln!(out, "Events: page views {}; clicks {}\n", plan.events().page_views.join(", "), plan.events().clicks.join(", "));
    let _ = writeln!(out, "{:<17} {:<9} {:<22} {:<26} {:<20} LEGACY", "VARIABLE", "REQUIRED", "RULE", "PIANO", "SMARTTAG");
    for v in plan.variables() {
        let rule = match (v.rule, &v.nomenclature) {
            (Rule::Nomenclature, Some(n)) => format!("one of {n}"),
            (rule, _) => format!("{rule:?}").to_lowercase(),
        };
        let _ = writeln!(
            out,
            "{:<17} {:<9} {:<22} {:<26} {:<20} {}",
            v.name,
            if v.required { "yes" } else { "no" },
            rule,
            v.piano.join(","),
            v.xiti.join(","),
            v.legacy.as_deref().unwrap_or("")
        );
    }
    for (name, nomenclature) in plan.nomenclatures() {
        let _ = writeln!(out, "\nNomenclature {name}: {}", nomenclature.description);
        let _ = writeln!(out, "  {:<38} {:<46} {:<38} LEGACY", "CODE", "LABEL", "OPEN-DATA COLUMN");
        for value in &nomenclature.values {
            let legacy: Vec<&str> = nomenclature.legacy.iter().filter(|(_, c)| **c == value.code).map(|(k, _)| k.as_str()).collect();
            let _ = writeln!(out, "  {:<38} {:<46} {:<38} {}", value.code, value.label, value.column, legacy.join(","));
        }
        if !nomenclature.aliases.is_empty() {
            let aliases: Vec<String> = nomenclature.aliases.iter().map(|(a, c)| format!("{a}->{c}")).collect();
            let _ = writeln!(out, "  aliases: {}", aliases.join(", "));
        }
    }
    let academies = plan.territories().academies();
    let departements: usize = academies.iter().map(|a| a.departements.len()).sum();
    let _ = writeln!(out, "\nTerritories: {} académies, {departements} départements (see --json for the table)", academies.len());
    out
}
