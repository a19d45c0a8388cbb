//! HTML pages (maud): server-rendered, no JavaScript, printable. Every figure is written with
//! French formats and carries `data-field` / `data-code` attributes so that tests (and scrapers)
//! can find it; a hidden figure reads `secret` (see `docs/PRIVACY.md`).

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::access::Access;
use crate::charts::MAP_SIZE;
use crate::french;
use crate::suppress::{hidden, Figures};
use crate::views::{level_label, period_label, ConformanceView, Filters, ProjectView, TerritoryRow, TerritoryView};
use crate::{DashboardError, Dashboards};

const STYLE: &str = r"
body{font-family:Marianne,Arial,sans-serif;margin:0;color:#161616;background:#f6f6f6}
header{background:#000091;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:bold} header .brand{font-size:1.2rem}
main{padding:1rem 1.2rem;max-width:1200px;margin:auto}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{background:#fff;border:1px solid #ddd;padding:.7rem 1rem;min-width:10rem}
.card .value{font-size:1.5rem;font-weight:bold;color:#000091}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef}
.filters{background:#fff;border:1px solid #ddd;padding:.5rem 1rem;display:flex;gap:1rem;flex-wrap:wrap;align-items:end}
.badge{background:#fceeac;border:1px solid #c9a400;padding:0 .4rem;font-size:.85rem}
.breadcrumb a{color:#000091} .muted{color:#666;font-size:.9rem}
.charts{display:flex;gap:1rem;flex-wrap:wrap} .charts img{background:#fff;border:1px solid #ddd;max-width:100%}
pre{white-space:pre-wrap;background:#fff;border:1px solid #ddd;padding:.4rem;font-size:.8rem}
@media print{header nav,.filters,.no-print{display:none} body{background:#fff}}
";

/// A page: the header with the links `access` gives, the title, the body.
pub(crate) fn layout(title: &str, access: &Access, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — dnma" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    span.brand { "dnma · mesure d'audience des ENT" }
                    nav {
                        a href="/territoires" { "Territoires" } " · "
                        @for p in &access.plateformes { a href={ "/conformite/" (p) } { "Conformité " (p) } " · " }
                        a href="/connexion" { "Connexion" }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A figure, or the mark of a hidden figure.
pub(crate) fn figure(value: Option<u64>) -> String {
    value.map_or_else(hidden, french::integer)
}

pub(crate) fn mean_duration(f: &Figures) -> String {
    if f.suppressed {
        hidden()
    } else {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole seconds
        f.mean_duration_s.map_or_else(|| "–".to_owned(), |m| french::duration(m.round() as u64))
    }
}

pub(crate) fn period_caption(start: chrono::NaiveDate, end: chrono::NaiveDate, kind: &str, incomplete: bool) -> Markup {
    html! {
        p {
            "Période : " strong { (kind) " du " (french::long_date(start)) " au " (french::long_date(end)) }
            @if incomplete { " " span.badge title="La période n'est pas terminée : les chiffres vont encore augmenter." { "période en cours, incomplète" } }
        }
    }
}

fn filters_form(d: &Dashboards, filters: &Filters, action: &str) -> Markup {
    let periode = filters.periode.clone().unwrap_or_else(|| "semaine".into());
    html! {
        form.filters method="get" action=(action) {
            @if let Some(n) = &filters.niveau { input type="hidden" name="niveau" value=(n); }
            @if let Some(c) = &filters.code { input type="hidden" name="code" value=(c); }
            @if let Some(i) = &filters.indicateur { input type="hidden" name="indicateur" value=(i); }
            label { "Période " select name="periode" {
                @for (value, label) in [("semaine", "Semaine"), ("mois", "Mois"), ("annee", "Année scolaire")] {
                    option value=(value) selected[periode == value] { (label) }
                }
            } }
            label { "Jour " input type="date" name="debut" value=[filters.debut.map(|d| d.to_string())]; }
            label { "Profil " select name="profil" {
                option value="" { "Tous" }
                @for v in d.plan.nomenclatures().get("profils").map(|n| n.values.as_slice()).unwrap_or_default() {
                    option value=(v.code) selected[filters.profil.as_deref() == Some(v.code.as_str())] { (v.label) }
                }
            } }
            label { "Service " select name="service" {
                option value="" { "Tous" }
                @for v in d.plan.nomenclatures().get("services").map(|n| n.values.as_slice()).unwrap_or_default() {
                    option value=(v.code) selected[filters.service.as_deref() == Some(v.code.as_str())] { (v.label) }
                }
            } }
            @if action == "/territoires" {
                label title="Un seul de ces filtres à la fois, sans filtre de profil" { "Degré " select name="degre" {
                    @for (value, label) in [("", "Tous"), ("ecole", "Écoles (1er degré)"), ("college", "Collèges"), ("lycee", "Lycées"), ("autre", "Autres établissements")] {
                        option value=(value) selected[filters.degre.as_deref().unwrap_or("") == value] { (label) }
                    }
                } }
                label { "Secteur " select name="secteur" {
                    @for (value, label) in [("", "Tous"), ("public", "Public"), ("prive", "Privé")] {
                        option value=(value) selected[filters.secteur.as_deref().unwrap_or("") == value] { (label) }
                    }
                } }
            }
            button type="submit" { "Appliquer" }
        }
    }
}

fn cards(f: &Figures, code: &str) -> Markup {
    html! {
        div.cards {
            div.card { div { "Visites" } div.value data-field="visits" data-code=(code) { (figure(f.visits)) } }
            div.card { div { "Visiteurs uniques" } div.value data-field="visitors" data-code=(code) { (figure(f.visitors)) } }
            div.card { div { "Pages vues" } div.value data-field="page_views" data-code=(code) { (figure(f.page_views)) } }
            div.card { div { "Durée moyenne des visites" } div.value data-field="mean_duration" data-code=(code) { (mean_duration(f)) } }
        }
    }
}

fn territory_table(rows: &[TerritoryRow], link: impl Fn(&TerritoryRow) -> Option<String>) -> Markup {
    let deployment = rows.iter().any(|r| r.deployment.is_some());
    html! {
        table {
            thead { tr {
                th { "Territoire" } th { "Visites" } th { "Visiteurs uniques" } th { "Pages vues" } th { "Clics" } th { "Durée moyenne" }
                th { "Élèves inscrits" } th { "Élèves visiteurs / inscrits" }
                @if deployment { th { "Déploiement 1er degré" } th { "Déploiement 2d degré" } th { "Déploiement" } }
            } }
            tbody {
                @for r in rows {
                    tr data-code=(r.code) {
                        td {
                            @match link(r) { Some(href) => a href=(href) { (r.name) }, None => (r.name) } " " span.muted { (r.code) }
                            @if r.in_perimeter == Some(false) { " " span.badge data-field="outside_perimeter" { "hors périmètre" } }
                        }
                        td.n data-field="visits" { (figure(r.figures.visits)) }
                        td.n data-field="visitors" { (figure(r.figures.visitors)) }
                        td.n data-field="page_views" { (figure(r.figures.page_views)) }
                        td.n data-field="clicks" { (figure(r.figures.clicks)) }
                        td.n { (mean_duration(&r.figures)) }
                        td.n { (r.pupils.map_or_else(|| "inconnu".into(), french::integer)) }
                        td.n {
                            @match r.pupil_rate {
                                Some(rate) => (french::percent(rate)),
                                None => span.muted title="Effectifs connus pour moins de 90 % des établissements, ou chiffre masqué" {
                                    @if r.pupils.is_some() { "effectifs partiels (" (french::percent(r.enrolment_coverage)) ")" } @else { "effectifs inconnus" }
                                },
                            }
                        }
                        @if deployment {
                            @let rate = |pick: fn(&crate::views::Deployment) -> &crate::views::DegreeDeployment| r.deployment.as_ref().map_or_else(|| "–".to_owned(), |d| crate::compare_routes::deployment_text(pick(d)));
                            td.n data-field="deployment_premier" { (rate(|d| &d.premier)) }
                            td.n data-field="deployment_second" { (rate(|d| &d.second)) }
                            td.n data-field="deployment" { (rate(|d| &d.total)) }
                        }
                    }
                }
            }
        }
    }
}

/// The national analyst's page.
pub fn territories(d: &Dashboards, access: &Access, filters: &Filters, view: &TerritoryView) -> Markup {
    let k = d.config().k;
    let title = format!("Territoires — {}", view.territory.name);
    let deployment_maps = filters.indicateur.as_deref() == Some("deploiement");
    let switch = filters.with(&[("indicateur", (!deployment_maps).then_some("deploiement"))]);
    let measure = if deployment_maps { "le taux de déploiement" } else { "les visiteurs uniques" };
    let departements_alt = if view.path.len() > 1 {
        format!("Carte des départements colorés selon {measure} : {}", view.territory.name)
    } else {
        format!("Carte des départements colorés selon {measure}, outre-mer en encadrés")
    };
    let query = filters.with(&[]);
    let here = if view.path.len() > 1 { format!("{}:{}", view.territory.level, view.territory.code) } else { "nation".to_owned() };
    let body = html! {
        p.breadcrumb {
            @for (i, (level, code, name)) in view.path.iter().enumerate() {
                @if i > 0 { " › " }
                a href={ "/territoires" (filters.with(&[("niveau", Some(level)), ("code", Some(code))])) } { (name) }
            }
        }
        (filters_form(d, filters, "/territoires"))
        (period_caption(view.period.start, view.period.end, &period_label_of(&view.period.kind), view.period.incomplete))
        @if view.profil.is_some() || view.service.is_some() || view.degre.is_some() || view.secteur.is_some() {
            p.muted {
                "Filtres : " @if let Some(p) = &view.profil { "profil " (p) " " } @if let Some(s) = &view.service { "service " (s) " " }
                @if let Some(k) = &view.degre { "degré " (k) " " } @if let Some(s) = &view.secteur { "secteur " (s) }
            }
        }
        (cards(&view.territory.figures, &view.territory.code))
        @if let Some(dep) = &view.territory.deployment {
            p {
                "Taux de déploiement (établissements ouverts ayant eu au moins une visite sur la période) : "
                strong data-field="deployment" data-code=(view.territory.code) { (crate::compare_routes::deployment_text(&dep.total)) }
                " — 1er degré : " span data-field="deployment_premier" data-code=(view.territory.code) { (crate::compare_routes::deployment_text(&dep.premier)) }
                " ; 2d degré : " span data-field="deployment_second" data-code=(view.territory.code) { (crate::compare_routes::deployment_text(&dep.second)) }
            }
        }
        p { "Élèves visiteurs par élève inscrit : " strong { @match view.territory.pupil_rate { Some(r) => (french::percent(r)), None => { "non calculable (effectifs connus pour " (french::percent(view.territory.enrolment_coverage)) " des établissements)" } } } }
        div.charts {
            img src={ "/graphiques/territoire.svg" (query) } alt="Visiteurs uniques par semaine, vacances scolaires en couleur, année précédente en rouge" width="900" height="340";
            img src={ "/graphiques/carte.svg" (query) } alt={ "Carte des académies colorées selon " (measure) ", outre-mer en encadrés" } width=(MAP_SIZE.0) height=(MAP_SIZE.1);
            img src={ "/graphiques/carte-departements.svg" (query) } alt=(departements_alt) width=(MAP_SIZE.0) height=(MAP_SIZE.1);
        }
        p.no-print {
            "Les cartes montrent " (measure) ". "
            a href={ "/territoires" (switch) } data-field="map_switch" {
                @if deployment_maps { "Colorer selon les visiteurs uniques" } @else { "Colorer selon le taux de déploiement" }
            }
        }
        p.no-print {
            "Images : " a href={ "/graphiques/territoire.png" (query) } { "courbe (PNG)" }
            " · " a href={ "/graphiques/carte.png" (query) } { "carte des académies (PNG)" }
            " · " a href={ "/graphiques/carte-departements.png" (query) } { "carte des départements (PNG)" }
        }
        p.muted { "Bandes colorées : vacances scolaires " @if let Some(z) = &view.zone { "(" (z) ")" } @else { "(zones A, B et C)" } ". Zone grise : période en cours." }
        h2 { "Comparer avec un autre territoire" }
        (crate::compare_routes::compare_form(filters, &here, ""))
        h2 { "Territoires rattachés" }
        p.no-print { a href={ "/territoires.csv" (query) } { "Télécharger le tableau (CSV)" } " · " a href={ "/api/v1/territoires" (query) } { "API JSON" } }
        (territory_table(&view.children, |r| Some(format!("/territoires{}", filters.with(&[("niveau", Some(&r.level)), ("code", Some(&r.code))])))))
        h2 { "Académies" }
        (territory_table(&view.academies, |r| Some(format!("/territoires{}", filters.with(&[("niveau", Some("academie")), ("code", Some(&r.code))])))))
        p.muted { "Aucun chiffre calculé sur moins de " (k) " visiteurs uniques n'est affiché ; pour qu'une soustraction ne le redonne pas, un second chiffre de son groupe (le plus petit) est masqué avec lui. Chiffre masqué : « " (hidden()) " »." }
        p.muted { "Déploiement : établissements ouverts du référentiel (1er degré : écoles ; 2d degré : collèges, lycées) ayant eu au moins une visite sur la période, avec les filtres, sur les établissements ouverts du territoire. Un établissement dont les chiffres sont masqués (« " (hidden()) " ») est compté actif : un chiffre n'est jamais masqué sans visite, la ligne de l'établissement le dit donc déjà ; aucun nombre de visiteurs ne s'en déduit." }
    };
    layout(&title, access, &body)
}

pub(crate) fn period_label_of(kind: &str) -> String {
    kind.parse::<pipeline::Period>().map_or("période", period_label).to_owned()
}

/// The project owner's page.
#[allow(clippy::too_many_lines)] // one page, read top to bottom
pub fn project(d: &Dashboards, access: &Access, filters: &Filters, view: &ProjectView) -> Markup {
    let query = filters.with(&[]);
    let latest = view.deployment.last();
    let body = html! {
        (filters_form(d, filters, &format!("/projets/{}", view.projet)))
        (period_caption(view.period.start, view.period.end, &period_label_of(&view.period.kind), view.period.incomplete))
        p { "Plateformes : " (view.plateformes.join(", ")) " · " strong data-field="schools" { (french::integer(view.schools)) } " établissements vus dans le trafic de l'année scolaire ou listés" }
        (cards(&view.figures, &view.projet))
        p {
            "Évolution par rapport à la période précédente : visites "
            strong data-field="visits_change" { (view.visits_change.map_or_else(|| "–".to_owned(), french::change)) }
            ", visiteurs uniques "
            strong data-field="visitors_change" { (view.visitors_change.map_or_else(|| "–".to_owned(), french::change)) }
        }
        @match &view.perimeter {
            Some(p) => {
                h2 { "Taux de déploiement" }
                p data-field="perimeter" {
                    "Périmètre : " strong data-field="perimeter_description" { (p.description) } " : "
                    strong data-field="perimeter_schools" { (french::integer(p.schools)) } " établissements"
                    " (" (perimeter_counts(&p.counts)) ")."
                    @if p.active_outside > 0 {
                        " " span.muted { (french::integer(p.active_outside)) " établissements hors périmètre ont aussi du trafic cette année." }
                    }
                }
                @if let Some(w) = latest {
                    div.cards {
                        div.card {
                            div { "Taux de déploiement, semaine du " (french::short_date(w.week)) @if w.incomplete { " " span.badge { "en cours" } } }
                            div.value data-field="deployment_rate" { (w.deployment_rate.map_or_else(|| "–".to_owned(), french::percent)) }
                            div.muted { (french::integer(w.perimeter_active.unwrap_or(0))) " établissements actifs sur " (french::integer(p.schools)) }
                        }
                        div.card {
                            div { "Taux de déploiement cumulé depuis la rentrée" }
                            div.value data-field="cumulative_rate" { (w.cumulative_rate.map_or_else(|| "–".to_owned(), french::percent)) }
                            div.muted { (french::integer(w.perimeter_adopted.unwrap_or(0))) " établissements au moins une fois actifs" }
                        }
                        @if let Some(t) = &p.target {
                            div.card {
                                div { "Objectif" }
                                div.value data-field="target" { (french::percent(t.rate)) }
                                div.muted { "au " (french::long_date(t.by)) }
                            }
                        }
                    }
                }
            }
            None => {
                h2 { "Établissements actifs" }
                p.muted data-field="perimeter" {
                    "Aucun périmètre n'est configuré pour ce projet : les parts ci-dessous sont calculées sur les établissements vus dans son trafic (ou listés), "
                    strong { "ce n'est pas un taux de déploiement" } ". Un périmètre se déclare dans la configuration ("
                    code { "[dashboards.perimeters." (view.projet) "]" } ")."
                }
            }
        }
        div.charts {
            img src={ "/graphiques/projets/" (view.projet) "/deploiement.svg" (query) }
                alt=(if view.perimeter.is_some() { "Taux de déploiement par semaine et cumulé, avec l'objectif et les notes" } else { "Établissements actifs par semaine et adoption cumulée" })
                width="900" height="340";
            img src={ "/graphiques/projets/" (view.projet) "/services.svg" (query) } alt="Visites par service" width="700";
        }
        @if !view.annotations.is_empty() {
            h3 { "Notes" }
            ul data-field="annotations" { @for a in &view.annotations {
                li { strong { (french::long_date(a.date)) } " : " (a.text) @if a.projet.is_none() { " " span.muted { "(tous les projets)" } } }
            } }
        }
        h2 { "Établissements actifs par semaine" }
        table {
            thead { tr {
                th { "Semaine du" } th { "Actifs" }
                @if view.perimeter.is_some() {
                    th { "Actifs du périmètre" } th { "Taux de déploiement" } th { "Taux cumulé" }
                } @else {
                    th { "Part des établissements vus" }
                }
                th { "Adoption (cumul)" }
            } }
            tbody { @for w in &view.deployment { tr data-week=(w.week) {
                td { (french::short_date(w.week)) @if w.incomplete { " " span.badge { "en cours" } } }
                td.n { (french::integer(w.active_schools)) }
                @if view.perimeter.is_some() {
                    td.n { (french::integer(w.perimeter_active.unwrap_or(0))) }
                    td.n data-field="deployment_rate" { (w.deployment_rate.map_or_else(|| "–".to_owned(), french::percent)) }
                    td.n data-field="cumulative_rate" { (w.cumulative_rate.map_or_else(|| "–".to_owned(), french::percent)) }
                } @else {
                    td.n { (french::percent(w.active_share)) }
                }
                td.n { (french::integer(w.adopted_schools)) }
            } } }
        }
        h2 { "Usage par profil" }
        (breakdown_table(&view.profiles))
        h2 { "Usage par service" }
        (breakdown_table(&view.services))
        h2 { "Établissements les moins actifs" }
        @if view.perimeter.is_some() { p.muted { "Y compris les établissements du périmètre sans aucune visite ; « hors périmètre » marque ceux qui n'en font pas partie." } }
        p.no-print { a href={ "/projets/" (view.projet) "/ecoles.csv" (query) } { "Télécharger (CSV)" } " · " a href={ "/api/v1/projets/" (view.projet) (query) } { "API JSON" } }
        (territory_table(&view.least_active, |r| Some(format!("/territoires?niveau=ecole&code={}", r.code))))
    };
    layout(&format!("Projet {}", view.projet), access, &body)
}

/// `1 234 premier degré, 12 second degré ; 1 200 publics, 46 privés`.
fn perimeter_counts(c: &crate::perimeter::PerimeterCounts) -> String {
    let mut parts = Vec::new();
    for (n, label) in [(c.premier, "premier degré"), (c.second, "second degré"), (c.autre, "autres")] {
        if n > 0 {
            parts.push(format!("{} {label}", french::integer(n)));
        }
    }
    let mut sectors = Vec::new();
    for (n, label) in [(c.public, "publics"), (c.prive, "privés"), (c.unknown, "absents du référentiel")] {
        if n > 0 {
            sectors.push(format!("{} {label}", french::integer(n)));
        }
    }
    format!("{} ; {}", parts.join(", "), sectors.join(", "))
}

fn breakdown_table(rows: &[crate::views::BreakdownRow]) -> Markup {
    html! {
        table {
            thead { tr { th { "Valeur" } th { "Visites" } th { "Visiteurs uniques" } th { "Pages vues" } th { "Durée moyenne" } } }
            tbody { @for r in rows { tr data-code=(r.value) {
                td { (r.label) " " span.muted { (r.value) } }
                td.n data-field="visits" { (figure(r.figures.visits)) } td.n data-field="visitors" { (figure(r.figures.visitors)) }
                td.n { (figure(r.figures.page_views)) } td.n { (mean_duration(&r.figures)) }
            } } }
        }
    }
}

/// The ENT editor's conformance page.
pub fn conformance(_d: &Dashboards, access: &Access, filters: &Filters, view: &ConformanceView) -> Markup {
    let query = filters.with(&[]);
    let body = html! {
        p { "Année scolaire du " (french::long_date(view.from)) " au " (french::long_date(view.to)) ". Éditeur : " (access.editor.clone().unwrap_or_default()) }
        div.charts { img src={ "/graphiques/conformite/" (view.plateforme) "/rejets.svg" (query) } alt="Part des événements refusés par semaine" width="900" height="340"; }
        h2 { "Refus par semaine et par motif" }
        p.no-print { a href={ "/conformite/" (view.plateforme) "/rejets.csv" (query) } { "Télécharger (CSV)" } " · " a href={ "/api/v1/conformite/" (view.plateforme) (query) } { "API JSON" } " · " a href={ "/conformite/" (view.plateforme) "/direct" } { "Hits en direct" } }
        p id="refus-tels-que-recus" { "Les refus sont comptés tels que reçus : un événement refusé le reste dans la semaine où il est arrivé, même "
            "après que " code { "dnma dead-letters replay" } " l'a récupéré une fois le marquage corrigé. La colonne « dont récupérés » "
            "dit combien de ces événements refusés ont été récupérés depuis : leurs hits comptent alors aussi, à leur date, "
            "parmi les hits acceptés." }
        table {
            thead { tr { th { "Semaine du" } th { "Hits acceptés" } th { "Événements refusés" } th { "dont récupérés" } th { "Part refusée" } th { "Motifs" } } }
            tbody { @for w in view.weeks.iter().rev() { tr data-code=(w.week) {
                td { (french::short_date(w.week)) @if w.incomplete { " " span.badge { "en cours" } } }
                td.n data-field="accepted" { (french::integer(w.accepted)) } td.n data-field="refused" { (french::integer(w.refused)) }
                td.n data-field="recovered" { (french::integer(w.recovered)) }
                td.n { (french::percent(w.refused_share)) }
                td { @for (code, n) in &w.by_code {
                    code { (code) } " : " (french::integer(*n))
                    @if let Some(r) = w.recovered_by_code.get(code) { " (dont " (french::integer(*r)) " récupérés)" }
                    br;
                } }
            } } }
        }
        h2 { "Valeurs refusées les plus fréquentes" }
        table {
            thead { tr { th { "Champ" } th { "Valeur" } th { "Motif" } th { "Événements" } th { "dont récupérés" } } }
            tbody { @for v in &view.invalid_values { tr {
                td { (v.field) } td { code { (v.value.clone().unwrap_or_default()) } } td { code { (v.code) } }
                td.n { (french::integer(v.events)) } td.n { (french::integer(v.recovered)) }
            } } }
        }
        h2 { "UAI inconnus ou mal formés" }
        @if view.uai_issues.is_empty() { p { "Aucun." } } @else { ul { @for v in &view.uai_issues { li { code { (v.value.clone().unwrap_or_default()) } " — " (v.code) " (" (french::integer(v.events)) ")" } } } }
        h2 { "Services" }
        p { "Clics et pages TIERS sans OUTIL : " strong data-field="tiers_without_outil" { (french::integer(view.tiers_without_outil)) } }
        p { "Services qui ont cessé d'être marqués (présents la semaine précédente, absents la dernière semaine complète) : "
            @if view.stopped.is_empty() { "aucun." } @else { ul { @for s in &view.stopped { li { strong { (s.label) } " (" (s.service) ") : " (french::integer(s.previous_week_hits)) " hits → 0" } } } } }
        p { "Services du plan jamais marqués cette année : " @if view.never_tagged.is_empty() { "aucun." } @else { (view.never_tagged.join(", ")) } }
        h2 { "Version du plan de marquage" }
        ul { @for (v, n) in &view.plan_versions { li { "version " (v) " : " (french::integer(*n)) " hits" } } }
        h2 { "Exemples d'événements refusés" }
        p.muted { "Identifiants d'utilisateurs pseudonymisés à la collecte." }
        @for s in &view.sample {
            details { summary { (s.received) " — " (s.event) " — " @for (code, field, _) in &s.reasons { code { (code) } " (" (field) ") " } } pre { (s.properties) } }
        }
    };
    layout(&format!("Conformité du marquage — {}", view.plateforme), access, &body)
}

/// The login page: a form to store a token in a cookie, and what the current token gives.
pub fn login_page(access: &Access) -> Markup {
    let body = html! {
        p { "Collez le jeton que l'administrateur vous a remis. Il est gardé dans un cookie de ce navigateur." }
        form method="post" action="/connexion" { label { "Jeton " input type="password" name="jeton" autocomplete="off"; } " " button type="submit" { "Se connecter" } }
        h2 { "Accès actuels" }
        ul {
            li { "Vues territoires et projets : " @if access.reader { "oui" } @else { "non" } }
            @for p in &access.plateformes { li { "Conformité : " a href={ "/conformite/" (p) } { (p) } } }
        }
    };
    layout("Connexion", access, &body)
}

/// An error page.
pub fn error_page(e: &DashboardError) -> Markup {
    let access = Access::default();
    layout(
        "Erreur",
        &access,
        &html! { p { (e.to_string()) } p { a href="/connexion" { "Connexion" } " · " a href="/territoires" { "Territoires" } } },
    )
}

/// The label of a level (for titles).
pub fn level_title(level: pipeline::Level) -> &'static str {
    level_label(level)
}
