//! The vocabulary of indicators: territory and ENT [`Level`]s, [`Period`]s and the
//! [`Breakdown`] dimensions, with the column each one reads in the visit facts.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// Where figures are rolled up: a territory level or an ENT level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// One school (its UAI).
    Ecole,
    /// A first-degree circonscription (schools without one are left out at this level).
    Circonscription,
    /// A département (INSEE code).
    Departement,
    /// An académie (its name).
    Academie,
    /// A région académique (its name).
    Region,
    /// France as a whole.
    Nation,
    /// An ENT project.
    Projet,
    /// An ENT platform.
    Plateforme,
    /// An ENT operator.
    Exploitant,
}

impl Level {
    /// Every level, from the finest territory to the ENT levels.
    pub const ALL: [Level; 9] = [
        Level::Ecole,
        Level::Circonscription,
        Level::Departement,
        Level::Academie,
        Level::Region,
        Level::Nation,
        Level::Projet,
        Level::Plateforme,
        Level::Exploitant,
    ];

    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Level::Ecole => "ecole",
            Level::Circonscription => "circonscription",
            Level::Departement => "departement",
            Level::Academie => "academie",
            Level::Region => "region",
            Level::Nation => "nation",
            Level::Projet => "projet",
            Level::Plateforme => "plateforme",
            Level::Exploitant => "exploitant",
        }
    }

    /// The visit-fact column holding its code (`None` for the nation: one cell).
    pub fn column(self) -> Option<&'static str> {
        match self {
            Level::Ecole => Some("uai"),
            Level::Nation => None,
            other => Some(other.name()),
        }
    }
}

/// The code of the one nation-level cell.
pub const NATION_CODE: &str = "FR";

/// A calendar period, in the local time of the school's académie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A day.
    Day,
    /// An ISO week, starting on Monday (the open data's `debutSemaine`).
    Week,
    /// A calendar month.
    Month,
    /// A school year, 1 September to 31 August.
    SchoolYear,
}

impl Period {
    /// Every period.
    pub const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::SchoolYear];

    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::SchoolYear => "school_year",
        }
    }

    /// The visit-fact column holding the start of the period of each visit's day.
    pub fn column(self) -> &'static str {
        self.name()
    }

    /// The first day of the period holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day.week(Weekday::Mon).first_day(),
            Period::Month => day.with_day(1).expect("day 1 exists"),
            Period::SchoolYear => {
                let year = if day.month() >= 9 { day.year() } else { day.year() - 1 };
                NaiveDate::from_ymd_opt(year, 9, 1).expect("1 September exists")
            }
        }
    }

    /// The last day of the period holding `day`.
    pub fn end_of(self, day: NaiveDate) -> NaiveDate {
        let start = self.start_of(day);
        let next = match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start + Months::new(1),
            Period::SchoolYear => start + Months::new(12),
        };
        next.pred_opt().expect("a day before")
    }
}

/// A dimension figures can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    /// User profile of the visit's first hit.
    Profil,
    /// Services used during the visit (a visit counts once for each service it used).
    Service,
    /// Third-party tools (`OUTIL`) used during the visit.
    Outil,
    /// Device class of the visit's first hit.
    Appareil,
    /// Operating system of the visit's first hit.
    Os,
    /// Browser of the visit's first hit.
    Navigateur,
    /// Kind of the visit's school: `ecole` (first degree), `college`, `lycee` (second degree),
    /// `autre`, or `inconnu` when the referential does not know the school.
    Degre,
    /// Sector of the visit's school: `public`, `prive`, or `inconnu`.
    Secteur,
}

impl Breakdown {
    /// Every breakdown.
    pub const ALL: [Breakdown; 8] = [
        Breakdown::Profil,
        Breakdown::Service,
        Breakdown::Outil,
        Breakdown::Appareil,
        Breakdown::Os,
        Breakdown::Navigateur,
        Breakdown::Degre,
        Breakdown::Secteur,
    ];

    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Breakdown::Profil => "profil",
            Breakdown::Service => "service",
            Breakdown::Outil => "outil",
            Breakdown::Appareil => "appareil",
            Breakdown::Os => "os",
            Breakdown::Navigateur => "navigateur",
            Breakdown::Degre => "degre",
            Breakdown::Secteur => "secteur",
        }
    }

    /// Whether it is a property of the visit's school (a population filter can select it).
    pub fn is_school(self) -> bool {
        matches!(self, Breakdown::Degre | Breakdown::Secteur)
    }

    /// The SQL expression of its value over the visit (or usage) facts: its column, where a
    /// school unknown to the referential reads [`UNKNOWN_SCHOOL_VALUE`].
    pub fn value_sql(self) -> String {
        if self.is_school() {
            format!("coalesce({}, '{UNKNOWN_SCHOOL_VALUE}')", self.column())
        } else {
            self.column().to_owned()
        }
    }

    /// The values a filter on this school dimension may take.
    pub fn school_values(self) -> &'static [&'static str] {
        match self {
            Breakdown::Degre => &["ecole", "college", "lycee", "autre", UNKNOWN_SCHOOL_VALUE],
            Breakdown::Secteur => &["public", "prive", UNKNOWN_SCHOOL_VALUE],
            _ => &[],
        }
    }

    /// A filter value of this school dimension, checked (`Err` says which values it takes).
    pub fn school_value(self, value: &str) -> Result<&'static str, UnknownName> {
        self.school_values().iter().copied().find(|v| *v == value).ok_or_else(|| UnknownName {
            kind: self.name(),
            value: value.to_owned(),
            expected: self.school_values().join(", "),
        })
    }

    /// Whether a visit can have several values (then the value lives in the usage facts).
    pub fn is_usage(self) -> bool {
        matches!(self, Breakdown::Service | Breakdown::Outil)
    }

    /// The visit-fact column holding its value (for usage breakdowns, the usage facts' `dim`).
    pub fn column(self) -> &'static str {
        match self {
            Breakdown::Profil => "profil",
            Breakdown::Service => "service",
            Breakdown::Outil => "outil",
            Breakdown::Appareil => "device",
            Breakdown::Os => "os",
            Breakdown::Navigateur => "browser",
            Breakdown::Degre => "degre",
            Breakdown::Secteur => "secteur",
        }
    }
}

/// The value of the school dimensions ([`Breakdown::is_school`]) for a school the referential
/// does not know.
pub const UNKNOWN_SCHOOL_VALUE: &str = "inconnu";

/// A name that is not one of the values of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    kind: &'static str,
    value: String,
    expected: String,
}

macro_rules! named {
    ($t:ty, $kind:literal) => {
        impl FromStr for $t {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| UnknownName {
                    kind: $kind,
                    value: s.to_owned(),
                    expected: <$t>::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
named!(Level, "level");
named!(Period, "period");
named!(Breakdown, "breakdown");

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_start_and_end_where_the_ministry_says() {
        assert_eq!(Period::Week.start_of(d("2026-11-22")), d("2026-11-16"), "Sunday belongs to the week of the Monday before");
        assert_eq!(Period::Week.start_of(d("2026-11-23")), d("2026-11-23"));
        assert_eq!(Period::Week.end_of(d("2026-11-23")), d("2026-11-29"));
        assert_eq!(Period::Month.end_of(d("2028-02-10")), d("2028-02-29"));
        assert_eq!(Period::SchoolYear.start_of(d("2026-08-31")), d("2025-09-01"));
        assert_eq!(Period::SchoolYear.start_of(d("2026-09-01")), d("2026-09-01"));
        assert_eq!(Period::SchoolYear.end_of(d("2026-09-01")), d("2027-08-31"));
        assert_eq!(Period::Day.end_of(d("2026-12-31")), d("2026-12-31"));
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_expected() {
        for level in Level::ALL {
            assert_eq!(level.name().parse::<Level>().unwrap(), level);
        }
        for period in Period::ALL {
            assert_eq!(period.to_string().parse::<Period>().unwrap(), period);
        }
        assert_eq!(Breakdown::Degre.school_value("college").unwrap(), "college");
        let err = Breakdown::Secteur.school_value("sous contrat").unwrap_err().to_string();
        assert!(err.contains("secteur") && err.contains("public, prive, inconnu"), "{err}");
        let err = "canton".parse::<Level>().unwrap_err().to_string();
        assert!(err.contains("canton") && err.contains("academie"), "{err}");
    }
}
