//! The User-Agent, reduced at the door to the open-data categories (device class, OS, browser)
//! and never stored raw; bots, crawlers, monitors and headless browsers recognized so their hits
//! are counted and dropped. Parsing uses the `woothee` crate; the bot list is
//! `collector/data/bots.txt`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

const BOT_LIST: &str = include_str!("../data/bots.txt");

/// What is kept of a User-Agent: the published categories. The classifier fills them with
/// static names, so a class is copied for every hit without allocating; decoded from the log
/// they are owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientClass {
    /// `ordinateur`, `smartphone`, `tablette`, `autre`.
    pub device: Cow<'static, str>,
    /// `android`, `windows`, `ios`, `macos`, `chromeos`, `linux`, `autre`.
    pub os: Cow<'static, str>,
    /// `chrome mobile`, `safari`, `chrome`, `firefox`, `edge`, `samsung`, `opera`, `huawei`,
    /// `miui`, `autre`.
    pub browser: Cow<'static, str>,
}

impl ClientClass {
    /// The class of a hit whose User-Agent is not known (imported lines, dead letters written
    /// before their client class was kept): `autre` for each, the published category a value
    /// outside the others falls into, so the open-data columns still add up.
    pub fn unknown() -> Self {
        ClientClass { device: "autre".into(), os: "autre".into(), browser: "autre".into() }
    }
}

/// How a User-Agent is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// A person's browser.
    Human(ClientClass),
    /// A robot, with its class from the bot list (`crawler`, `headless`, `http_library`,
    /// `monitor`).
    Bot(&'static str),
}

/// Distinct User-Agents whose classes are remembered (the cache is emptied when full).
const CACHE_ENTRIES: usize = 8192;

/// Classifies User-Agents. A visitor's browser sends the same User-Agent on every hit and an
/// audience holds a few thousand distinct ones, so classes are cached by User-Agent.
pub struct UaClassifier {
    parser: woothee::parser::Parser,
    bots: Vec<(&'static str, &'static str)>,
    cache: std::sync::Mutex<std::collections::HashMap<String, Client>>,
}

impl Default for UaClassifier {
    fn default() -> Self {
        let bots = BOT_LIST.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).filter_map(|l| l.split_once('\t')).collect();
        UaClassifier { parser: woothee::parser::Parser::new(), bots, cache: std::sync::Mutex::default() }
    }
}

impl UaClassifier {
    /// Classifies a User-Agent (empty or missing: a bot of class `http_library`, since every
    /// browser sends one).
    pub fn classify(&self, user_agent: &str) -> Client {
        if let Some(known) = self.cache.lock().expect("UA cache lock").get(user_agent) {
            return known.clone();
        }
        let client = self.classify_uncached(user_agent);
        let mut cache = self.cache.lock().expect("UA cache lock");
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(user_agent.to_owned(), client.clone());
        client
    }

    fn classify_uncached(&self, user_agent: &str) -> Client {
        let lower = user_agent.to_ascii_lowercase();
        if lower.trim().is_empty() {
            return Client::Bot("http_library");
        }
        if let Some((class, _)) = self.bots.iter().find(|(_, fragment)| lower.contains(fragment)) {
            return Client::Bot(class);
        }
        let parsed = self.parser.parse(user_agent);
        if parsed.as_ref().is_some_and(|p| p.category == "crawler") {
            return Client::Bot("crawler");
        }
        let (name, category, os) = parsed.as_ref().map_or(("", "", ""), |p| (p.name, p.category, p.os));
        let os_class = match os {
            "Android" => "android",
            "iPhone" | "iPad" | "iPod" | "iOS" => "ios",
            "Mac OSX" | "Mac OS Classic" if lower.contains("mobile/") => "ios",
            "Mac OSX" | "Mac OS Classic" => "macos",
            "ChromeOS" => "chromeos",
            "Linux" | "BSD" => "linux",
            o if o.starts_with("Windows") && o != "Windows Phone OS" && o != "Windows CE" => "windows",
            _ => "autre",
        };
        let tablet = os == "iPad" || (os == "Android" && !lower.contains("mobile")) || lower.contains("tablet");
        let device = match category {
            _ if tablet => "tablette",
            "pc" if os_class == "ios" => "tablette",
            "pc" => "ordinateur",
            "smartphone" | "mobilephone" => "smartphone",
            _ => "autre",
        };
        let mobile = device == "smartphone" || device == "tablette";
        let browser = if lower.contains("huaweibrowser") {
            "huawei"
        } else if lower.contains("miuibrowser") {
            "miui"
        } else {
            match name {
                "SamsungBrowser" => "samsung",
                "Edge" => "edge",
                "Opera" => "opera",
                "Firefox" => "firefox",
                "Chrome" if mobile => "chrome mobile",
                "Chrome" => "chrome",
                "Safari" => "safari",
                _ => "autre",
            }
        };
        Client::Human(ClientClass { device: device.into(), os: os_class.into(), browser: browser.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(ua: &str) -> (String, String, String) {
        match UaClassifier::default().classify(ua) {
            Client::Human(c) => (c.device.into_owned(), c.os.into_owned(), c.browser.into_owned()),
            Client::Bot(class) => panic!("{ua} taken for a {class} bot"),
        }
    }

    #[test]
    fn classifies_the_browsers_of_the_open_data() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", ("ordinateur", "windows", "chrome")),
            ("Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", ("smartphone", "android", "chrome mobile")),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", ("smartphone", "ios", "safari")),
            ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", ("tablette", "ios", "safari")),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36", ("ordinateur", "chromeos", "chrome")),
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", ("ordinateur", "linux", "firefox")),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", ("ordinateur", "macos", "safari")),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", ("ordinateur", "windows", "edge")),
            ("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", ("smartphone", "android", "samsung")),
            ("Mozilla/5.0 (Linux; Android 12; Lenovo TB-X606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", ("tablette", "android", "chrome mobile")),
            ("Mozilla/5.0 (Linux; U; Android 12; zh-cn; 2201117TG Build/SKQ1) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0 Mobile Safari/537.36 XiaoMi/MiuiBrowser/17.5", ("smartphone", "android", "miui")),
        ];
        for (ua, (device, os, browser)) in cases {
            assert_eq!(human(ua), (device.into(), os.into(), browser.into()), "{ua}");
        }
    }

    #[test]
    fn cached_answers_equal_fresh_ones() {
        let c = UaClassifier::default();
        for ua in [
            "curl/8.5.0",
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        ] {
            let first = c.classify(ua);
            assert_eq!(c.classify(ua), first);
            assert_eq!(c.classify_uncached(ua), first);
        }
        for i in 0..(CACHE_ENTRIES + 10) {
            c.classify(&format!("agent-{i}"));
        }
        assert!(c.cache.lock().unwrap().len() <= CACHE_ENTRIES, "bounded");
    }

    #[test]
    fn recognizes_bots_and_headless_browsers() {
        let c = UaClassifier::default();
        for (ua, class) in [
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", "headless"),
            ("curl/8.5.0", "http_library"),
            ("python-requests/2.31", "http_library"),
            ("", "http_library"),
            ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "crawler"),
        ] {
            assert_eq!(c.classify(ua), Client::Bot(class), "{ua}");
        }
    }
}
