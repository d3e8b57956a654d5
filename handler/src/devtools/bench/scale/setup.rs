//! The simulated tenants: a generated source tenant, a host tenant, each
//! with its app registration; and the churn applied before the third run.
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::devtools::sim::{GenerateSpec, Generated, NewUser, Sim};
use crate::domain::Guid;

/// The simulator side of one source tenant.
pub(crate) struct Source {
    pub(crate) tenant: Guid,
    pub(crate) app: Guid,
    pub(crate) generated: Generated,
}

pub(crate) fn add_source(sim: &Sim, name: &str, secret: &str, spec: &GenerateSpec) -> Source {
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(
        tenant,
        name,
        &format!("{}.onmicrosoft.com", name.to_lowercase()),
    );
    sim.register_app(
        tenant,
        app,
        secret,
        &["GroupMember.Read.All", "User.Read.All"],
    );
    let generated = sim.generate_source(tenant, spec);
    Source {
        tenant,
        app,
        generated,
    }
}

pub(crate) fn add_host(sim: &Sim, name: &str, secret: &str) -> (Guid, Guid) {
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(
        tenant,
        name,
        &format!("{}.onmicrosoft.com", name.to_lowercase()),
    );
    sim.register_app(
        tenant,
        app,
        secret,
        &[
            "User.Invite.All",
            "User.ReadWrite.All",
            "GroupMember.ReadWrite.All",
        ],
    );
    (tenant, app)
}

/// Applies churn to a source: joins (new users added to the scope group),
/// leaves (accounts deleted), renames (display name changed). Returns the
/// three counts.
pub(super) fn churn(sim: &Sim, src: &Source, share: f64, seed: u64) -> (usize, usize, usize) {
    let n = src.generated.user_ids.len();
    let k = ((n as f64) * share.clamp(0.0, 1.0)).round() as usize;
    let joins = k / 3;
    let leaves = k / 3;
    let renames = k - joins - leaves;
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xC4_u64);
    let picked = rand::seq::index::sample(&mut rng, n, (leaves + renames).min(n));
    let picked: Vec<Guid> = picked.iter().map(|i| src.generated.user_ids[i]).collect();
    let (leaving, renamed) = picked.split_at(leaves.min(picked.len()));
    for id in leaving {
        sim.delete_user(src.tenant, *id);
    }
    for id in renamed {
        let mut patch = Map::new();
        patch.insert(
            "displayName".into(),
            Value::String(format!("Renamed {}", rng.gen::<u32>())),
        );
        sim.update_user(src.tenant, *id, patch);
    }
    for i in 0..joins {
        let upn = format!("joiner{i}.{}@{}", rng.gen::<u32>(), "joiners.example");
        let id = sim.create_user(src.tenant, NewUser::simple(&format!("Joiner {i}"), &upn));
        sim.add_member(src.tenant, src.generated.group_id, id);
    }
    (joins, leaves, renamed.len())
}
