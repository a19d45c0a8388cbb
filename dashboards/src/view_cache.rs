//! A short-lived cache of computed views: a page, its CSV, its chart images and its API call
//! share one computation of the same view (same filters) for a few seconds, about as long as the
//! pipeline takes to bring new figures (`[dashboards] cache_seconds`, default 10; 0 disables it).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::DashboardError;

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

/// Views by key, each kept for `ttl`.
pub struct ViewCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Entries beyond which expired ones are swept.
const SWEEP_AT: usize = 512;

impl ViewCache {
    /// A cache keeping views for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        ViewCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The view under `key`, computed by `compute` when absent or expired.
    pub async fn get_or_compute<T, F>(&self, key: String, compute: F) -> Result<T, DashboardError>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, DashboardError>>,
    {
        if self.ttl.is_zero() {
            return compute.await;
        }
        {
            let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, value)) = entries.get(&key) {
                if at.elapsed() < self.ttl {
                    if let Some(view) = value.downcast_ref::<T>() {
                        return Ok(view.clone());
                    }
                }
            }
        }
        let view = compute.await?;
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        entries.insert(key, (Instant::now(), Arc::new(view.clone())));
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_view_is_computed_once_within_its_lifetime() {
        let cache = ViewCache::new(Duration::from_secs(60));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let compute = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<u32, DashboardError>(7)
        };
        assert_eq!(cache.get_or_compute("a".into(), compute()).await.unwrap(), 7);
        assert_eq!(cache.get_or_compute("a".into(), compute()).await.unwrap(), 7);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        cache.get_or_compute("b".into(), compute()).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        let none = ViewCache::new(Duration::ZERO);
        none.get_or_compute("a".into(), compute()).await.unwrap();
        none.get_or_compute("a".into(), compute()).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
        let failing = cache.get_or_compute::<u32, _>("c".into(), async { Err(DashboardError::NotFound("x".into())) }).await;
        assert!(failing.is_err(), "errors are not cached");
    }
}
