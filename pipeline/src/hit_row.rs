//! [`HitRow`]: one accepted hit as the pipeline sees it, placed in its territories and its local
//! day. [`Placer`] turns the collector's [`StoredHit`]s into rows, with the school's territories
//! from the referential and the day in the time zone of the school's académie.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use collector::record::StoredHit;
use tagging_plan::{Plan, Referential};

/// The territories of one school, as stored in the facts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// First-degree circonscription, when the referential has one.
    pub circonscription: Option<String>,
    /// Département INSEE code.
    pub departement: String,
    /// Académie name.
    pub academie: String,
    /// Région académique name.
    pub region: String,
    /// The school's kind (`ecole`, `college`, `lycee`, `autre`: see
    /// [`tagging_plan::referential::SchoolKind`]), when the referential knows the school.
    pub degre: Option<&'static str>,
    /// The school's sector (`public`, `prive`), when the referential knows it.
    pub secteur: Option<&'static str>,
    /// Time zone of the académie.
    pub tz: Tz,
}

/// One accepted hit, ready for sessionization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitRow {
    /// Its offset in the hit log (identifies it: staging the same offset twice is a no-op).
    pub offset: u64,
    /// Receive time, ms since the epoch (UTC).
    pub time_ms: i64,
    /// Local day at the school.
    pub day: NaiveDate,
    /// Pseudonymous visitor.
    pub visitor: [u8; 16],
    /// ENT platform.
    pub plateforme: String,
    /// ENT project.
    pub projet: String,
    /// ENT operator.
    pub exploitant: String,
    /// School UAI.
    pub uai: String,
    /// The school's territories.
    pub place: Arc<Place>,
    /// Profile.
    pub profil: String,
    /// Service.
    pub service: String,
    /// Third-party tool, for TIERS services.
    pub outil: Option<String>,
    /// A `page.display`.
    pub page_view: bool,
    /// A `click.*` event.
    pub click: bool,
    /// Device class.
    pub device: String,
    /// Operating system class.
    pub os: String,
    /// Browser class.
    pub browser: String,
    /// Version of the plan that accepted it.
    pub plan_version: String,
}

/// Why a stored hit cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The UAI lies in no département of the plan (the collector validated it against another plan).
    #[error("hit at offset {offset}: {message}")]
    Unlocatable {
        /// Log offset.
        offset: u64,
        /// Why.
        message: String,
    },
    /// The académie's time zone is not an IANA name.
    #[error("académie {academie}: unknown time zone `{fuseau}`")]
    TimeZone {
        /// Académie.
        academie: String,
        /// Its configured zone.
        fuseau: String,
    },
}

/// Places stored hits in their territories and local days; caches one [`Place`] per UAI.
pub struct Placer<'a> {
    plan: &'a Plan,
    referential: &'a Referential,
    places: HashMap<String, Arc<Place>>,
}

impl<'a> Placer<'a> {
    /// A placer over this plan's territories and this referential's schools.
    pub fn new(plan: &'a Plan, referential: &'a Referential) -> Self {
        Placer { plan, referential, places: HashMap::new() }
    }

    /// The territories of a UAI.
    pub fn place(&mut self, offset: u64, uai: &str) -> Result<Arc<Place>, PlaceError> {
        if let Some(place) = self.places.get(uai) {
            return Ok(place.clone());
        }
        let location = self.referential.locate(self.plan, uai).map_err(|e| PlaceError::Unlocatable { offset, message: e.to_string() })?;
        let tz: Tz = location
            .fuseau
            .parse()
            .map_err(|_| PlaceError::TimeZone { academie: location.academie.to_owned(), fuseau: location.fuseau.to_owned() })?;
        let place = Arc::new(Place {
            circonscription: location.school.and_then(|s| s.circonscription.clone()).filter(|c| !c.is_empty()),
            departement: location.departement_code.to_owned(),
            academie: location.academie.to_owned(),
            region: location.region.to_owned(),
            degre: location.school.map(|s| s.kind().name()),
            secteur: location.school.and_then(|s| s.secteur).map(tagging_plan::referential::Secteur::name),
            tz,
        });
        self.places.insert(uai.to_owned(), place.clone());
        Ok(place)
    }

    /// The row of a stored hit.
    pub fn row(&mut self, offset: u64, hit: StoredHit) -> Result<HitRow, PlaceError> {
        let place = self.place(offset, &hit.uai)?;
        let day = local_day(hit.received_ms, place.tz);
        let page_view = hit.event == "page.display";
        let click = hit.event.starts_with("click.");
        Ok(HitRow {
            offset,
            time_ms: hit.received_ms,
            day,
            visitor: hit.visitor.0,
            plateforme: hit.plateforme,
            projet: hit.projet,
            exploitant: hit.exploitant,
            uai: hit.uai,
            place,
            profil: hit.profil,
            service: hit.service,
            outil: hit.outil.filter(|o| !o.is_empty()),
            page_view,
            click,
            device: hit.client.device.into_owned(),
            os: hit.client.os.into_owned(),
            browser: hit.client.browser.into_owned(),
            plan_version: hit.plan_version,
        })
    }
}

/// The local calendar day of an instant in a time zone.
pub fn local_day(time_ms: i64, tz: Tz) -> NaiveDate {
    let utc = DateTime::from_timestamp_millis(time_ms).unwrap_or_default();
    utc.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_the_schools_local_day() {
        // 2026-11-22T23:30Z: already Monday in Paris, still Sunday in Guadeloupe, Monday in Réunion.
        let t = 1_795_390_200_000;
        assert_eq!(local_day(t, chrono_tz::Europe::Paris).to_string(), "2026-11-23");
        assert_eq!(local_day(t, chrono_tz::America::Guadeloupe).to_string(), "2026-11-22");
        assert_eq!(local_day(t, chrono_tz::Indian::Reunion).to_string(), "2026-11-23");
    }

    #[test]
    fn places_come_from_the_referential_and_the_plan() {
        let plan = Plan::shipped();
        let mut placer = Placer::new(&plan, Referential::shipped());
        // An école of Ille-et-Vilaine (the referential's order is not fixed: a lycée may come first).
        let school = Referential::shipped()
            .schools()
            .find(|s| {
                s.circonscription.is_some()
                    && s.uai.starts_with("035")
                    && tagging_plan::referential::SchoolKind::of_nature(&s.nature_code).name() == "ecole"
            })
            .unwrap();
        let place = placer.place(0, &school.uai).unwrap();
        assert_eq!(place.departement, "35");
        assert_eq!(place.academie, "Rennes");
        assert_eq!(place.tz, chrono_tz::Europe::Paris);
        assert_eq!(place.circonscription, school.circonscription);
        assert_eq!((place.degre, place.secteur), (Some("ecole"), school.secteur.map(tagging_plan::referential::Secteur::name)));
        let college = Referential::shipped().schools().find(|s| s.nature_code == "340" && s.secteur.is_some()).unwrap();
        assert_eq!(placer.place(1, &college.uai).unwrap().degre, Some("college"));
        assert!(placer.place(7, "not-a-uai").unwrap_err().to_string().contains("offset 7"));
    }
}
