//! French formats for the pages: numbers with a narrow no-break space between thousands and a
//! decimal comma, percentages, durations (`1 h 05 min`, `3 min 20 s`) and dates (`lundi 7 septembre
//! 2026`, `7 sept. 2026`).

use chrono::{Datelike, NaiveDate, Weekday};

/// The thousands separator of French typography (U+202F, narrow no-break space).
pub const THOUSANDS: char = '\u{202f}';

/// An integer, e.g. `12 345 678`.
pub fn integer(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(THOUSANDS);
        }
        out.push(c);
    }
    out
}

/// A decimal number with `decimals` digits after a comma, e.g. `1 234,5`.
pub fn decimal(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if x < 0.0 && text.chars().any(|c| c != '0' && c != '.') { "-" } else { "" };
    let int = integer(int.parse().unwrap_or(0));
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int},{frac}")
    }
}

/// A ratio as a percentage with one decimal, e.g. `12,5 %` (with a no-break space).
pub fn percent(ratio: f64) -> String {
    format!("{}\u{a0}%", decimal(ratio * 100.0, 1))
}

/// A signed change as a percentage, e.g. `+4,2 %`.
pub fn change(ratio: f64) -> String {
    let sign = if ratio > 0.0 { "+" } else { "" };
    format!("{sign}{}", percent(ratio))
}

/// A duration in seconds, e.g. `1 h 05 min`, `3 min 20 s`, `45 s`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}\u{a0}h\u{a0}{m:02}\u{a0}min")
    } else if m > 0 {
        format!("{m}\u{a0}min\u{a0}{s:02}\u{a0}s")
    } else {
        format!("{s}\u{a0}s")
    }
}

const MONTHS: [&str; 12] = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
const SHORT_MONTHS: [&str; 12] = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];

/// The French name of a weekday.
pub fn weekday(day: Weekday) -> &'static str {
    ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"][day.num_days_from_monday() as usize]
}

/// A date in full, e.g. `lundi 7 septembre 2026` (`1er` for the first of a month).
pub fn long_date(day: NaiveDate) -> String {
    let d = if day.day() == 1 { "1er".to_owned() } else { day.day().to_string() };
    format!("{} {d} {} {}", weekday(day.weekday()), MONTHS[day.month0() as usize], day.year())
}

/// A short date, e.g. `7 sept. 2026`.
pub fn short_date(day: NaiveDate) -> String {
    format!("{} {} {}", day.day(), SHORT_MONTHS[day.month0() as usize], day.year())
}

/// A month, e.g. `septembre 2026`.
pub fn month(day: NaiveDate) -> String {
    format!("{} {}", MONTHS[day.month0() as usize], day.year())
}

/// A date as `JJ/MM/AAAA`, the numeric form French administrations use.
pub fn numeric_date(day: NaiveDate) -> String {
    day.format("%d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_french_separators() {
        assert_eq!(integer(0), "0");
        assert_eq!(integer(999), "999");
        assert_eq!(integer(1000), "1\u{202f}000");
        assert_eq!(integer(12_345_678), "12\u{202f}345\u{202f}678");
        assert_eq!(decimal(1234.56, 1), "1\u{202f}234,6");
        assert_eq!(decimal(-0.04, 1), "0,0");
        assert_eq!(decimal(-2.5, 1), "-2,5");
        assert_eq!(percent(0.125), "12,5\u{a0}%");
        assert_eq!(change(0.042), "+4,2\u{a0}%");
        assert_eq!(change(-0.1), "-10,0\u{a0}%");
    }

    #[test]
    fn durations_and_dates_read_as_in_french() {
        assert_eq!(duration(45), "45\u{a0}s");
        assert_eq!(duration(200), "3\u{a0}min\u{a0}20\u{a0}s");
        assert_eq!(duration(3900), "1\u{a0}h\u{a0}05\u{a0}min");
        let day = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
        assert_eq!(long_date(day), "lundi 7 septembre 2026");
        assert_eq!(long_date(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()), "jeudi 1er octobre 2026");
        assert_eq!(short_date(day), "7 sept. 2026");
        assert_eq!(month(day), "septembre 2026");
        assert_eq!(numeric_date(day), "07/09/2026");
    }
}
