//! Visits for the demo traffic: each visitor opens a session of several pages (geometric, mean
//! [`MEAN_PAGES`]) separated by think times (exponential, mean [`MEAN_THINK_MS`]); requests are
//! drawn from due sessions first, and a new session starts when none is due. The request rate
//! is modulated by a daily and weekly rhythm ([`rhythm`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::sample::{SampleGenerator, Visitor};

/// Mean pages of a visit.
pub const MEAN_PAGES: f64 = 6.0;

/// Mean think time between two pages, ms.
pub const MEAN_THINK_MS: f64 = 20_000.0;

/// Sessions in progress.
pub struct SessionTraffic {
    generator: SampleGenerator,
    due: BinaryHeap<Reverse<(u64, u64)>>,
    sessions: HashMap<u64, (Visitor, u32)>,
    next_id: u64,
}

impl SessionTraffic {
    /// Sessions over a request generator.
    pub fn new(generator: SampleGenerator) -> Self {
        SessionTraffic { generator, due: BinaryHeap::new(), sessions: HashMap::new(), next_id: 0 }
    }

    /// The next request line at `now_ms`.
    pub fn next_line(&mut self, now_ms: u64) -> String {
        let id = match self.due.peek() {
            Some(Reverse((at, id))) if *at <= now_ms => {
                let id = *id;
                self.due.pop();
                id
            }
            _ => self.start(),
        };
        let (visitor, pages_left) = self.sessions.get_mut(&id).expect("session");
        *pages_left -= 1;
        let (visitor, ended) = (visitor.clone(), *pages_left == 0);
        if ended {
            self.sessions.remove(&id);
        } else {
            let think = -MEAN_THINK_MS * (1.0 - self.generator.uniform()).ln();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            self.due.push(Reverse((now_ms + think as u64, id)));
        }
        self.generator.request(&visitor)
    }

    /// Sessions in progress.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    fn start(&mut self) -> u64 {
        let visitor = self.generator.visitor();
        // Geometric number of pages with mean MEAN_PAGES.
        let mut pages = 1;
        while self.generator.uniform() > 1.0 / MEAN_PAGES && pages < 100 {
            pages += 1;
        }
        self.next_id += 1;
        self.sessions.insert(self.next_id, (visitor, pages));
        self.next_id
    }
}

/// Share of the peak rate at a Paris local hour (0-23) and ISO weekday (1 = Monday): evenings
/// are the peak (homework, parents), school hours busy, nights near zero, weekends half,
/// Wednesday afternoons busier (no school for most pupils).
pub fn rhythm(hour: u32, weekday: u32) -> f64 {
    const HOURLY: [f64; 24] =
        [0.03, 0.02, 0.01, 0.01, 0.01, 0.03, 0.15, 0.45, 0.7, 0.65, 0.6, 0.6, 0.55, 0.6, 0.65, 0.65, 0.75, 0.9, 1.0, 1.0, 0.9, 0.6, 0.3, 0.1];
    let day = match weekday {
        6 | 7 => 0.5,
        3 if hour >= 12 => 1.2,
        _ => 1.0,
    };
    (HOURLY[hour as usize % 24] * day).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitors_come_back_for_several_pages() {
        let mut traffic = SessionTraffic::new(SampleGenerator::new(5));
        let mut users = HashMap::new();
        for i in 0..4000u64 {
            let line = traffic.next_line(i * 50); // 20 requests/s for 200 s
            let user = line.split(['"', '&', '=']).skip_while(|t| *t != "user_id" && *t != "at").nth(2).map(str::to_owned);
            if let Some(user) = user {
                *users.entry(user).or_insert(0) += 1;
            }
        }
        let returning = users.values().filter(|n| **n > 1).count();
        assert!(returning * 4 > users.len(), "{returning} of {} users made several requests", users.len());
        assert!(traffic.open_sessions() > 10);
    }

    #[test]
    fn rhythm_peaks_in_the_evening_and_sleeps_at_night() {
        assert!(rhythm(19, 2) > rhythm(10, 2));
        assert!(rhythm(3, 2) < 0.05);
        assert!(rhythm(19, 6) < rhythm(19, 2));
        assert!(rhythm(15, 3) > rhythm(15, 2));
    }
}
