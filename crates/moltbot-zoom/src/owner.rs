//! A detached sidecar's tie to the extension install that started it.
//!
//! The extension starts the sidecar in its own session so that it outlives gateway
//! restarts, and names its package directory in [`OWNER_DIR_ENV`]. The hosts' `plugins
//! uninstall` removes that directory without running extension code, so the sidecar
//! watches it and stops by itself once it is gone.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// The extension's package directory, set when the extension spawns the sidecar.
pub(crate) const OWNER_DIR_ENV: &str = "MOLTBOT_ZOOM_OWNER_DIR";

/// How often the directory is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Checks in a row that must find the directory missing (an update replaces it in place).
const MISSING_CHECKS: u32 = 3;

/// Resolves with the owner directory once it has been missing for [`MISSING_CHECKS`]
/// checks in a row; never resolves when [`OWNER_DIR_ENV`] is unset or empty.
pub(crate) async fn uninstalled() -> PathBuf {
    match std::env::var_os(OWNER_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            removed(&dir, CHECK_EVERY).await;
            dir
        }
        None => std::future::pending().await,
    }
}

/// Resolves once `dir` was missing at [`MISSING_CHECKS`] consecutive checks `every` apart.
async fn removed(dir: &Path, every: Duration) {
    let mut missing = 0;
    loop {
        tokio::time::sleep(every).await;
        missing = if dir.exists() { 0 } else { missing + 1 };
        if missing >= MISSING_CHECKS {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("moltbot-zoom-owner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test(start_paused = true)]
    async fn a_present_directory_keeps_the_sidecar_running() {
        let dir = temp_dir("present");
        let waited =
            tokio::time::timeout(Duration::from_secs(3600), removed(&dir, CHECK_EVERY)).await;
        assert!(waited.is_err(), "resolved although the directory is there");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_directory_stops_it_after_three_checks() {
        let dir = temp_dir("removed");
        std::fs::remove_dir_all(&dir).unwrap();
        let started = tokio::time::Instant::now();
        removed(&dir, CHECK_EVERY).await;
        assert_eq!(started.elapsed(), CHECK_EVERY * MISSING_CHECKS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_directory_replaced_between_checks_is_not_an_uninstall() {
        let dir = temp_dir("replaced");
        let watch = removed(&dir, CHECK_EVERY);
        tokio::pin!(watch);
        // Missing at two checks, back before the third (an update in place).
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            tokio::time::timeout(CHECK_EVERY * 2 + Duration::from_millis(1), &mut watch)
                .await
                .is_err()
        );
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            tokio::time::timeout(CHECK_EVERY * 10, &mut watch)
                .await
                .is_err()
        );
        // Gone for good: three more checks.
        std::fs::remove_dir_all(&dir).unwrap();
        tokio::time::timeout(CHECK_EVERY * 3 + Duration::from_millis(1), &mut watch)
            .await
            .expect("stops after three missing checks");
    }
}
