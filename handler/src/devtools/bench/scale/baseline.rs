//! The naive baseline: how the seed's Power Automate flows worked. One
//! source user at a time, no pacing, a full rescan every run (look the
//! guest up, invite if missing, patch the profile, copy the photo), into a
//! fresh host tenant with its own budget; extrapolated per user when run on
//! fewer users.
use std::time::Instant;

use anyhow::Context;
use serde_json::{Map, Value};

use super::metrics::{metrics, throttle_bound_secs, BaselineReport, PhaseMetrics};
use super::setup::{add_host, add_source, churn, Source};
use super::{ScaleBenchArgs, HOST_SECRET};
use crate::devtools::sim::{GenerateSpec, Sim};
use crate::domain::Guid;
use crate::graph::{
    AppCredentials, BucketSpec, GraphClient, GraphConfig, GraphError, InviteRequest, TenantGraph,
};
use crate::secrets::SecretString;

const BASELINE_SECRET: &str = "bench-baseline-secret";
const REDIRECT: &str = "https://myapps.microsoft.com";

/// The naive baseline over `m` users into a fresh host tenant.
pub(super) async fn baseline(
    sim: &Sim,
    args: &ScaleBenchArgs,
    m: usize,
    spec: &GenerateSpec,
    scale: f64,
) -> anyhow::Result<BaselineReport> {
    let (host, host_app) = add_host(sim, "NaiveHost", HOST_SECRET);
    let src = add_source(
        sim,
        "NaiveSource",
        BASELINE_SECRET,
        &GenerateSpec {
            users: m,
            ..spec.clone()
        },
    );
    sim.advance(60.0);
    // No pacing: buckets so large the client never waits on them (it still
    // honours Retry-After on a 429, as Power Automate's connectors do).
    let mut cfg = GraphConfig::new(sim.url(), sim.url()).with_time_scale(scale);
    let huge = BucketSpec {
        capacity: 1e12,
        per_sec: 1e12,
    };
    cfg.pacing.writes = huge;
    cfg.pacing.invitations = huge;
    cfg.pacing.read_units = huge;
    cfg.pacing.pressure_percent = f64::INFINITY;
    let client = GraphClient::new(cfg).context("building the baseline Graph client")?;
    let host_g = client.tenant(AppCredentials {
        tenant_id: host,
        client_id: host_app,
        secret: SecretString::new(HOST_SECRET),
    });
    let src_g = client.tenant(AppCredentials {
        tenant_id: src.tenant,
        client_id: src.app,
        secret: SecretString::new(BASELINE_SECRET),
    });
    let mut phases = Vec::new();
    let mut guests = m as u64;
    for name in ["first sync", "no-change"] {
        phases.push(baseline_phase(sim, &src_g, &host_g, &src, name, scale, guests).await?);
    }
    let churned = churn(sim, &src, args.churn, args.seed);
    guests = guests + churned.0 as u64 - churned.1 as u64;
    sim.advance(60.0);
    phases.push(baseline_phase(sim, &src_g, &host_g, &src, "after churn", scale, guests).await?);
    let factor = args.users as f64 / m as f64;
    let extrapolated_graph_secs = phases
        .iter()
        .map(|p| {
            let linear = p.graph_secs * factor;
            let bound = throttle_bound_secs(
                (p.writes as f64 * factor).round() as u64,
                (p.invitations as f64 * factor).round() as u64,
            );
            linear.max(bound)
        })
        .collect();
    Ok(BaselineReport {
        users: m,
        phases,
        extrapolated_graph_secs,
    })
}

const PROFILE: &[&str] = &[
    "displayName",
    "jobTitle",
    "department",
    "companyName",
    "mail",
    "userPrincipalName",
];

/// One naive run: full rescan, then every user in turn.
async fn baseline_phase(
    sim: &Sim,
    src_g: &TenantGraph,
    host_g: &TenantGraph,
    src: &Source,
    name: &str,
    scale: f64,
    guests: u64,
) -> anyhow::Result<PhaseMetrics> {
    sim.reset_counts();
    let started = Instant::now();
    let members = src_g
        .group_user_members(src.generated.group_id, &["id"])
        .await
        .context("baseline: listing the source group")?;
    for member in members {
        // A user that fails is skipped, as a flow's "continue on error" would.
        if let Err(e) = baseline_user(src_g, host_g, member.id).await {
            tracing::debug!(user_id = %member.id, error = %e, "baseline: user failed");
        }
    }
    Ok(metrics(
        name,
        &sim.counts(),
        started.elapsed(),
        scale,
        guests,
        None,
    ))
}

/// The seed flow's steps for one user: get profile, look up the guest,
/// invite if missing, patch the profile, copy the photo.
async fn baseline_user(
    src_g: &TenantGraph,
    host_g: &TenantGraph,
    id: Guid,
) -> Result<(), GraphError> {
    let user = src_g.get_user(id, PROFILE).await?;
    let attr = |k: &str| {
        user.attrs
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let Some(address) = attr("mail").or_else(|| attr("userPrincipalName")) else {
        return Ok(());
    };
    let found = host_g.find_users_by_address(&address, &["id"]).await?;
    let guest = match found.first() {
        Some(g) => g.id,
        None => {
            host_g
                .invite(&InviteRequest {
                    email: address.clone(),
                    display_name: attr("displayName"),
                    redirect_url: REDIRECT.into(),
                    user_type: "Guest".into(),
                })
                .await?
                .user_id
        }
    };
    let mut patch = Map::new();
    for k in ["displayName", "jobTitle", "department", "companyName"] {
        if let Some(v) = user.attrs.get(k) {
            patch.insert(k.to_string(), v.clone());
        }
    }
    host_g.patch_user(guest, &patch).await?;
    if let Some(photo) = src_g.photo(id).await? {
        host_g
            .put_photo(guest, photo.bytes, &photo.content_type)
            .await?;
    }
    Ok(())
}
