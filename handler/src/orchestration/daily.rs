//! The daily checks the redemption timer runs besides fanning out: the
//! secret-expiry check, the host's cross-tenant access settings of each
//! source tenant (automatic redemption, inbound B2B; stored on the tenant
//! for the report) and retention. Problems are logged and returned as
//! lines for the invocation's logs; they never fail the timer.
use chrono::{DateTime, Utc};

use crate::app::App;

/// Runs the checks at `now`; one log line per finding.
#[tracing::instrument(name = "daily_checks", skip_all)]
pub async fn run(app: &App, now: DateTime<Utc>) -> Vec<String> {
    let mut logs = Vec::new();
    let statuses = crate::secrets::expiry::check_secret_expiry(
        app.store.as_ref(),
        app.secrets.as_ref(),
        &app.settings,
        now,
    )
    .await;
    for s in statuses {
        logs.push(format!(
            "secret of {}: {:?}{}",
            s.owner,
            s.level,
            s.days_left
                .map(|d| format!(", {d} day(s) left"))
                .unwrap_or_default()
        ));
    }
    logs.extend(
        crate::tenants::cross_tenant::refresh_all(
            app.store.as_ref(),
            &app.settings,
            app.secrets.as_ref(),
            &app.graph,
            now,
        )
        .await,
    );
    let days = app.settings.retention_days;
    let before = now - chrono::Duration::days(days as i64);
    match app.store.prune(before).await {
        Ok(p) => logs.push(format!(
            "retention: {} run(s) and {} audit entries older than {days} days pruned",
            p.runs, p.audit
        )),
        Err(e) => {
            tracing::warn!(error = %e, "retention prune failed");
            logs.push(format!("retention prune failed: {e}"));
        }
    }
    logs
}
