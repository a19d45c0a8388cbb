//! The territory tree the analyst view drills through (nation → région académique → académie →
//! département → circonscription → school), built once from the plan and the school referential,
//! with each node's holiday zone, enrolment (pupils of its schools whose enrolment is known) and
//! open schools by degree, against which [`TerritoryIndex::active_by_degree`] counts the schools
//! with traffic (the deployment rate).

use std::collections::BTreeMap;

use pipeline::model::NATION_CODE;
use pipeline::Level;
use tagging_plan::referential::Degree;
use tagging_plan::{Plan, Referential};

/// Schools of the first degree (écoles) and of the second (collèges, lycées).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByDegree {
    /// First degree.
    pub premier: u64,
    /// Second degree.
    pub second: u64,
}

impl ByDegree {
    /// Adds one school of a degree (a school of neither degree is not counted).
    fn add(&mut self, degree: Degree) {
        match degree {
            Degree::Premier => self.premier += 1,
            Degree::Second => self.second += 1,
            Degree::Autre => {}
        }
    }

    /// Both degrees.
    pub fn total(&self) -> u64 {
        self.premier + self.second
    }
}

/// One territory.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Display name.
    pub name: String,
    /// The territory it lies in (none for the nation).
    pub parent: Option<(Level, String)>,
    /// Holiday zone (`Zone A`, `Corse`, …) when the territory lies in one.
    pub zone: Option<String>,
    /// Open schools (first or second degree) of the referential in it.
    pub schools: u64,
    /// Those whose enrolment is known.
    pub schools_with_enrolment: u64,
    /// Pupils enrolled in those.
    pub pupils: u64,
    /// Its open schools (the same as `schools`) by degree.
    pub schools_by_degree: ByDegree,
    /// For a school counted in `schools`: its degree (none for a school of neither degree or
    /// closed, and for every other territory).
    pub degree: Option<Degree>,
}

impl Node {
    /// Share of its schools whose enrolment is known (0 when it has none).
    pub fn enrolment_coverage(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // ratios of school counts
        if self.schools == 0 {
            0.0
        } else {
            self.schools_with_enrolment as f64 / self.schools as f64
        }
    }
}

/// Levels of the drill-down, top first.
pub const DRILL: [Level; 6] = [Level::Nation, Level::Region, Level::Academie, Level::Departement, Level::Circonscription, Level::Ecole];

/// The tree.
#[derive(Debug, Default)]
pub struct TerritoryIndex {
    nodes: BTreeMap<(Level, String), Node>,
}

impl TerritoryIndex {
    /// Builds the tree of a plan's territories and a referential's schools.
    pub fn build(plan: &Plan, referential: &Referential) -> TerritoryIndex {
        let mut nodes: BTreeMap<(Level, String), Node> = BTreeMap::new();
        nodes.insert((Level::Nation, NATION_CODE.to_owned()), Node { name: "France".into(), ..Node::default() });
        for academie in plan.territories().academies() {
            let region = (Level::Region, academie.region.clone());
            nodes.entry(region.clone()).or_insert_with(|| Node {
                name: academie.region.clone(),
                parent: Some((Level::Nation, NATION_CODE.to_owned())),
                zone: Some(academie.zone.clone()),
                ..Node::default()
            });
            let region_node = nodes.get_mut(&region).expect("inserted");
            if region_node.zone.as_deref() != Some(academie.zone.as_str()) {
                region_node.zone = None;
            }
            nodes.insert(
                (Level::Academie, academie.nom.clone()),
                Node { name: academie.nom.clone(), parent: Some(region), zone: Some(academie.zone.clone()), ..Node::default() },
            );
            for departement in &academie.departements {
                nodes.insert(
                    (Level::Departement, departement.code.clone()),
                    Node {
                        name: departement.nom.clone(),
                        parent: Some((Level::Academie, academie.nom.clone())),
                        zone: Some(academie.zone.clone()),
                        ..Node::default()
                    },
                );
            }
        }
        for school in referential.schools() {
            let Ok(location) = referential.locate(plan, &school.uai) else { continue };
            let departement = (Level::Departement, location.departement_code.to_owned());
            let circonscription = school.circonscription.clone().filter(|c| !c.is_empty());
            let parent = match &circonscription {
                Some(c) => {
                    nodes.entry((Level::Circonscription, c.clone())).or_insert_with(|| Node {
                        name: c.clone(),
                        parent: Some(departement.clone()),
                        zone: Some(location.zone.to_owned()),
                        ..Node::default()
                    });
                    (Level::Circonscription, c.clone())
                }
                None => departement,
            };
            nodes.insert(
                (Level::Ecole, school.uai.clone()),
                Node { name: school.nom.clone(), parent: Some(parent), zone: Some(location.zone.to_owned()), ..Node::default() },
            );
            // Count the school in itself and every territory above it (open écoles, collèges and
            // lycées only: administrative services and the like enrol no pupils).
            if !school.ouvert || school.degre == tagging_plan::referential::Degree::Autre {
                continue;
            }
            nodes.get_mut(&(Level::Ecole, school.uai.clone())).expect("inserted").degree = Some(school.degre);
            let mut at = Some((Level::Ecole, school.uai.clone()));
            while let Some(key) = at.take() {
                let node = nodes.get_mut(&key).expect("parents exist");
                node.schools += 1;
                node.schools_by_degree.add(school.degre);
                if let Some(pupils) = school.enrolment {
                    node.schools_with_enrolment += 1;
                    node.pupils += u64::from(pupils);
                }
                at.clone_from(&node.parent);
            }
        }
        TerritoryIndex { nodes }
    }

    /// A territory.
    pub fn node(&self, level: Level, code: &str) -> Option<&Node> {
        self.nodes.get(&(level, code.to_owned()))
    }

    /// How many of some schools (UAIs, each once) lie in each territory, by degree: only the
    /// schools counted in [`Node::schools`] (open, first or second degree), so that a count never
    /// exceeds the territory's open schools of that degree.
    pub fn active_by_degree<'a>(&self, uais: impl IntoIterator<Item = &'a str>) -> BTreeMap<(Level, String), ByDegree> {
        let mut counts: BTreeMap<(Level, String), ByDegree> = BTreeMap::new();
        for uai in uais {
            let Some(degree) = self.node(Level::Ecole, uai).and_then(|n| n.degree) else { continue };
            let mut at = Some((Level::Ecole, uai.to_owned()));
            while let Some(key) = at.take() {
                at = self.nodes.get(&key).and_then(|n| n.parent.clone());
                counts.entry(key).or_default().add(degree);
            }
        }
        counts
    }

    /// The territories directly under one, by name (schools of a département outside any
    /// circonscription, i.e. second-degree schools, are its direct children too).
    pub fn children(&self, level: Level, code: &str) -> Vec<(Level, String)> {
        let parent = Some((level, code.to_owned()));
        let mut children: Vec<(&(Level, String), &Node)> = self.nodes.iter().filter(|(_, n)| n.parent == parent).collect();
        children.sort_by(|a, b| (a.0 .0, &a.1.name).cmp(&(b.0 .0, &b.1.name)));
        children.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// The path from the nation down to a territory (itself included).
    pub fn path(&self, level: Level, code: &str) -> Vec<(Level, String)> {
        let mut path = Vec::new();
        let mut at = Some((level, code.to_owned()));
        while let Some(key) = at {
            at = self.nodes.get(&key).and_then(|n| n.parent.clone());
            path.push(key);
        }
        path.reverse();
        path
    }

    /// Every territory of a level.
    pub fn of_level(&self, level: Level) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().filter(move |((l, _), _)| *l == level).map(|((_, code), node)| (code.as_str(), node))
    }

    /// The départements a territory's département map shows, by code: those in it (every one
    /// for the nation), or the one it lies in (a circonscription, a school).
    pub fn departements_of(&self, level: Level, code: &str) -> Vec<String> {
        let at = (level, code.to_owned());
        let above = self.path(level, code);
        self.of_level(Level::Departement)
            .map(|(d, _)| d)
            .filter(|d| above.iter().any(|(l, c)| *l == Level::Departement && c == d) || self.path(Level::Departement, d).contains(&at))
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_runs_from_the_nation_to_each_school() {
        let plan = Plan::shipped();
        let index = TerritoryIndex::build(&plan, Referential::shipped());
        let path = index.path(Level::Ecole, "0350122T");
        let levels: Vec<Level> = path.iter().map(|(l, _)| *l).collect();
        assert_eq!(levels.first(), Some(&Level::Nation));
        assert!(levels.contains(&Level::Academie) && levels.contains(&Level::Departement));
        assert!(path.contains(&(Level::Academie, "Rennes".into())));
        let nation = index.node(Level::Nation, NATION_CODE).unwrap();
        let rennes = index.node(Level::Academie, "Rennes").unwrap();
        assert!(nation.schools >= rennes.schools && rennes.schools > 0);
        assert!(rennes.pupils > 0, "Ille-et-Vilaine enrolment is shipped");
        assert_eq!(rennes.zone.as_deref(), Some("Zone B"));
        let ille_et_vilaine = index.node(Level::Departement, "35").unwrap();
        assert!(ille_et_vilaine.enrolment_coverage() > 0.5, "{ille_et_vilaine:?}");
        assert!(index.children(Level::Academie, "Rennes").contains(&(Level::Departement, "35".into())));
        assert!(index.children(Level::Nation, NATION_CODE).iter().all(|(l, _)| *l == Level::Region));
        assert_eq!(index.departements_of(Level::Nation, NATION_CODE).len(), index.of_level(Level::Departement).count());
        assert!(index.departements_of(Level::Nation, NATION_CODE).len() >= 101);
        assert_eq!(index.departements_of(Level::Academie, "Rennes"), ["22", "29", "35", "56"]);
        assert_eq!(index.departements_of(Level::Departement, "35"), ["35"]);
        assert_eq!(index.departements_of(Level::Ecole, "0350122T"), ["35"]);
        assert_eq!(nation.schools, nation.schools_by_degree.total());
        assert!(rennes.schools_by_degree.premier > 0 && rennes.schools_by_degree.second > 0, "{rennes:?}");
    }

    #[test]
    fn active_schools_are_counted_in_every_territory_above_them_by_degree() {
        let plan = Plan::shipped();
        let referential = Referential::shipped();
        let index = TerritoryIndex::build(&plan, referential);
        let open = |degree: Degree| {
            referential
                .schools()
                .find(|s| s.ouvert && s.degre == degree && index.path(Level::Ecole, &s.uai).contains(&(Level::Departement, "35".into())))
        };
        let (ecole, college) = (open(Degree::Premier).unwrap(), open(Degree::Second).unwrap());
        // A UAI outside the referential is counted nowhere.
        let counts = index.active_by_degree([ecole.uai.as_str(), college.uai.as_str(), "9999999Z"]);
        for key in [(Level::Nation, NATION_CODE.to_owned()), (Level::Academie, "Rennes".into()), (Level::Departement, "35".into())] {
            assert_eq!(counts[&key], ByDegree { premier: 1, second: 1 }, "{key:?}");
        }
        assert_eq!(counts[&(Level::Ecole, ecole.uai.clone())], ByDegree { premier: 1, second: 0 });
        assert!(!counts.contains_key(&(Level::Academie, "Paris".into())));
        assert!(!counts.contains_key(&(Level::Ecole, "9999999Z".into())));
    }
}
