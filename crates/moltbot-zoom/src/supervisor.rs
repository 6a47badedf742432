//! The sidecar's long-running components (Zoom channel, REST shim, webhook
//! listener) as named tasks. None of them may stop on its own: the first one
//! that does, whether with an error, cleanly or by panicking, is reported so
//! `run` exits non-zero and its supervisor (the Moltbot extension) restarts
//! the process.

use std::{collections::HashMap, future::Future, time::Duration};

use tokio::task::{Id, JoinSet};

/// Environment variable naming a component that fails right after start
/// (debug builds only): lets the binary's tests check the exit behaviour.
const FAILPOINT_ENV: &str = "MOLTBOT_ZOOM_FAILPOINT";

/// Named component tasks (`channel`, `shim`, `webhook-listener`).
#[derive(Default)]
pub(crate) struct Components {
    tasks: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, &'static str>,
}

impl Components {
    /// Runs `task` as component `name`.
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(async move {
            if failpoint(name) {
                anyhow::bail!("test failpoint {FAILPOINT_ENV}={name}");
            }
            task.await
        });
        self.names.insert(handle.id(), name);
    }

    /// Waits until a component stops, and says which and why. Only a stop
    /// requested by cancelling the components' token is expected; call this
    /// before cancelling it.
    pub(crate) async fn first_stop(&mut self) -> anyhow::Error {
        let Some(joined) = self.tasks.join_next_with_id().await else {
            return anyhow::anyhow!("no component is running");
        };
        let (name, why) = match joined {
            Ok((id, Ok(()))) => (self.name(id), anyhow::anyhow!("it ended on its own")),
            Ok((id, Err(e))) => (self.name(id), e),
            Err(join) => (self.name(join.id()), anyhow::anyhow!("it panicked: {join}")),
        };
        tracing::error!(component = name, error = %format!("{why:#}"), "component stopped; exiting so the supervisor restarts the sidecar");
        why.context(format!("component `{name}` stopped"))
    }

    /// After the token was cancelled: waits up to `deadline` for every
    /// component. The first error, if any, is returned.
    pub(crate) async fn join_all(mut self, deadline: Duration) -> anyhow::Result<()> {
        let mut first_error = None;
        let all = async {
            while let Some(joined) = self.tasks.join_next_with_id().await {
                let failure = match joined {
                    Ok((_, Ok(()))) => None,
                    Ok((id, Err(e))) => {
                        Some(e.context(format!("component `{}` failed", self.name(id))))
                    }
                    Err(join) => Some(anyhow::anyhow!(
                        "component `{}` panicked: {join}",
                        self.name(join.id())
                    )),
                };
                if let Some(e) = failure {
                    first_error.get_or_insert(e);
                }
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            anyhow::bail!("the sidecar did not stop within {deadline:?}");
        }
        first_error.map_or(Ok(()), Err)
    }

    fn name(&self, id: Id) -> &'static str {
        self.names.get(&id).copied().unwrap_or("a component")
    }
}

/// True when the failpoint names `component` (never in release builds).
fn failpoint(component: &str) -> bool {
    cfg!(debug_assertions) && std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == component)
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    #[tokio::test]
    async fn the_first_component_to_stop_is_named_whatever_the_way() {
        for (stop, expected) in [
            ("error", "component `shim` stopped: broken listener"),
            ("clean", "component `shim` stopped: it ended on its own"),
            ("panic", "component `shim` stopped: it panicked"),
        ] {
            let cancel = CancellationToken::new();
            let mut c = Components::default();
            let token = cancel.clone();
            c.spawn("channel", async move {
                token.cancelled().await;
                Ok(())
            });
            c.spawn("shim", async move {
                match stop {
                    "error" => anyhow::bail!("broken listener"),
                    "clean" => Ok(()),
                    _ => panic!("boom"),
                }
            });
            let why = format!("{:#}", c.first_stop().await);
            assert!(why.starts_with(expected), "{why}");
            cancel.cancel();
            c.join_all(Duration::from_secs(5)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn join_all_is_bounded() {
        let mut c = Components::default();
        c.spawn("stuck", std::future::pending());
        let err = c.join_all(Duration::from_millis(50)).await.unwrap_err();
        assert!(err.to_string().contains("did not stop within"), "{err}");
    }
}
