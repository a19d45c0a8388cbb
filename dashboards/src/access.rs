//! Who may see what: a request carries a token (`Authorization: Bearer …` or the `dnma_jeton`
//! cookie set by `/connexion`); tokens are compared in constant time. Readers see the analyst
//! and project views; an editor sees the conformance page of its own platforms only; a project
//! owner reads the views and annotates its own projects only; an administrator reads the views
//! and annotates any project (and every project at once).

use axum::http::HeaderMap;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::config::DashboardConfig;

/// Name of the cookie holding the token.
pub const COOKIE: &str = "dnma_jeton";

/// What a request may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The analyst and project views.
    pub reader: bool,
    /// The platforms whose conformance page it may see.
    pub plateformes: Vec<String>,
    /// The editor's name, when the token is an editor's.
    pub editor: Option<String>,
    /// Whether the token is one of the configured ones (an unknown token is as good as none).
    pub known: bool,
    /// The projects whose notes it may add and delete (a project owner's).
    pub projets: Vec<String>,
    /// The project owner's name, when the token is an owner's.
    pub owner: Option<String>,
    /// Whether it may annotate any project.
    pub admin: bool,
}

/// Constant-time equality of two tokens (their lengths may leak, not their contents).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The token a request carries, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value.strip_prefix("Bearer ") {
            return Some(token.trim().to_owned());
        }
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl Access {
    /// What a token (or none) gives under a configuration. Every configured token is compared,
    /// so the time taken does not tell which one matched.
    pub fn of(config: &DashboardConfig, token: Option<&str>) -> Access {
        let mut access =
            Access { reader: config.open_views, plateformes: Vec::new(), editor: None, known: false, projets: Vec::new(), owner: None, admin: false };
        let Some(token) = token.filter(|t| !t.is_empty()) else { return access };
        let mut reader = false;
        for candidate in &config.readers {
            reader |= same(candidate.expose_secret(), token);
        }
        access.reader |= reader;
        access.known |= reader;
        for editor in &config.editors {
            if same(editor.token.expose_secret(), token) {
                access.plateformes.extend(editor.plateformes.iter().cloned());
                access.editor = Some(editor.name.clone());
                access.known = true;
            }
        }
        for owner in &config.owners {
            if same(owner.token.expose_secret(), token) {
                access.projets.extend(owner.projets.iter().cloned());
                access.owner = Some(owner.name.clone());
                access.reader = true;
                access.known = true;
            }
        }
        let mut admin = false;
        for candidate in &config.admins {
            admin |= same(candidate.expose_secret(), token);
        }
        access.admin = admin;
        access.reader |= admin;
        access.known |= admin;
        access
    }

    /// Whether it may add or delete the notes of a project (none: the notes of every project,
    /// for administrators only).
    pub fn annotates(&self, projet: Option<&str>) -> bool {
        self.admin || projet.is_some_and(|p| self.projets.iter().any(|own| own == p))
    }

    /// The author of the notes it adds.
    pub fn author(&self) -> String {
        match &self.owner {
            Some(name) if !self.admin => name.clone(),
            _ => "administrateur".to_owned(),
        }
    }

    /// Whether it may see this platform's conformance.
    pub fn sees_platform(&self, plateforme: &str) -> bool {
        self.plateformes.iter().any(|p| p == plateforme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EditorAccess, OwnerAccess};

    fn config() -> DashboardConfig {
        DashboardConfig {
            readers: vec!["lecteur-secret".into()],
            owners: vec![OwnerAccess { name: "Porteur P".into(), token: "porteur-p".into(), projets: vec!["P".into()] }],
            admins: vec!["admin-secret".into()],
            editors: vec![EditorAccess { name: "Éditeur A".into(), token: "editeur-a".into(), plateformes: vec!["ENT-A".into()] }],
            ..DashboardConfig::default()
        }
    }

    #[test]
    fn tokens_grant_their_roles_only() {
        let c = config();
        assert!(!Access::of(&c, None).reader);
        assert!(Access::of(&c, Some("lecteur-secret")).reader);
        assert!(!Access::of(&c, Some("lecteur-secreT")).reader);
        assert!(!Access::of(&c, Some("")).reader);
        let editor = Access::of(&c, Some("editeur-a"));
        assert!(!editor.reader && editor.sees_platform("ENT-A") && !editor.sees_platform("ENT-B"));
        let open = DashboardConfig { open_views: true, ..c };
        assert!(Access::of(&open, None).reader);
        assert!(Access::of(&open, None).plateformes.is_empty());
    }

    #[test]
    fn owners_annotate_their_projects_and_admins_every_one() {
        let c = config();
        let owner = Access::of(&c, Some("porteur-p"));
        assert!(owner.reader && owner.annotates(Some("P")) && !owner.annotates(Some("Q")) && !owner.annotates(None));
        assert_eq!(owner.author(), "Porteur P");
        let admin = Access::of(&c, Some("admin-secret"));
        assert!(admin.reader && admin.annotates(Some("Q")) && admin.annotates(None));
        assert_eq!(admin.author(), "administrateur");
        let reader = Access::of(&c, Some("lecteur-secret"));
        assert!(!reader.annotates(Some("P")) && !reader.annotates(None));
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(token(&headers), None);
        headers.insert("cookie", "a=b; dnma_jeton=xyz".parse().unwrap());
        assert_eq!(token(&headers).as_deref(), Some("xyz"));
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(token(&headers).as_deref(), Some("abc"));
    }
}
