//! Source tenant generation: a scope group with a chain of nested groups,
//! users spread over them (some in two groups, to exercise de-duplication),
//! with photos, disabled accounts, non-ASCII names and source guests in the
//! requested shares. Drawn from the seeded generation RNG.
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{NewUser, World};
use crate::domain::Guid;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateSpec {
    pub users: usize,
    /// Levels of nested groups below the scope group.
    pub nested_depth: usize,
    pub photo_share: f64,
    pub disabled_share: f64,
    pub non_ascii_share: f64,
    /// Share of group members that are guests of the source (out of scope).
    pub guest_share: f64,
    /// Give the in-scope users managers: a reporting tree (six reports per
    /// manager) whose top, and every ninth user, reports to a director
    /// outside the scope group (one director per 40 users, created after
    /// everything else, so the rest of a seed's data is unchanged). Off by
    /// default: existing seeds keep their exact write counts.
    pub managers: bool,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        GenerateSpec {
            users: 100,
            nested_depth: 2,
            photo_share: 0.5,
            disabled_share: 0.05,
            non_ascii_share: 0.1,
            guest_share: 0.0,
            managers: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generated {
    /// The scope group.
    pub group_id: Guid,
    /// In-scope members (non-guest users), transitively, in creation order.
    pub user_ids: Vec<Guid>,
    /// Nested groups, outermost first.
    pub nested_group_ids: Vec<Guid>,
    /// Guest users of the source that are members too (out of scope).
    #[serde(default)]
    pub guest_ids: Vec<Guid>,
}

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kara",
    "Liam", "Maya", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Will", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Brown", "Clark", "Davis", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones",
    "Khan", "Lopez", "Martin", "Nguyen", "Owens", "Patel", "Reyes", "Smith", "Taylor", "Walker",
];
/// Non-ASCII names and their ASCII folding for the UPN.
const FIRST_NA: &[(&str, &str)] = &[
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Ångström", "angstrom"),
    ("Çağla", "cagla"),
    ("Jürgen", "jurgen"),
    ("Nguyễn", "nguyen"),
    ("Дмитрий", "dmitry"),
    ("美咲", "misaki"),
];
const LAST_NA: &[(&str, &str)] = &[
    ("Müller", "muller"),
    ("Núñez", "nunez"),
    ("Żółć", "zolc"),
    ("Ødegård", "odegard"),
    ("O'Brien", "obrien"),
    ("Đorđević", "dordevic"),
    ("Иванов", "ivanov"),
    ("佐藤", "sato"),
];
const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Analyst",
    "Manager",
    "Consultant",
    "Designer",
    "Accountant",
    "Director",
];
const DEPTS: &[&str] = &[
    "Research",
    "Sales",
    "Finance",
    "IT",
    "Operations",
    "Legal",
    "HR",
];

/// A small fake JPEG (valid markers, random content).
fn fake_jpeg(rng: &mut impl Rng) -> Bytes {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    let n = rng.gen_range(96..256);
    v.extend((0..n).map(|_| rng.gen::<u8>()));
    v.extend([0xFF, 0xD9]);
    Bytes::from(v)
}

/// Generates into `tenant` (created if unknown) at simulated instant `now`.
pub(crate) fn generate(w: &mut World, tenant: Guid, spec: &GenerateSpec, now: f64) -> Generated {
    if !w.tenants.contains_key(&tenant) {
        let short: String = tenant.to_string().chars().take(8).collect();
        w.add_tenant(
            tenant,
            &format!("Source {short}"),
            &format!("src{short}.onmicrosoft.com"),
        );
    }
    let domain = w
        .tenants
        .get(&tenant)
        .map(|t| t.initial_domain.clone())
        .unwrap_or_default();
    // Generated objects are "old": outside the consistency window.
    let created = now - 1.0e9;
    let tag: String = {
        let n: u32 = w.gen_rng.gen();
        format!("{n:08x}")
    };
    let Ok(group) = w.create_group(tenant, &format!("Guest sync scope {tag}"), created) else {
        return Generated {
            group_id: Guid::from_uuid(uuid::Uuid::nil()),
            user_ids: vec![],
            nested_group_ids: vec![],
            guest_ids: vec![],
        };
    };
    let mut groups = vec![group];
    for d in 0..spec.nested_depth {
        if let Ok(g) = w.create_group(tenant, &format!("Nested {tag} level {}", d + 1), created) {
            if let Some(parent) = groups.last().copied() {
                let _ = w.add_member(tenant, parent, g);
            }
            groups.push(g);
        }
    }
    let mut user_ids = Vec::new();
    let mut guest_ids = Vec::new();
    for i in 0..spec.users {
        let r = &mut w.gen_rng;
        let non_ascii = r.gen_bool(spec.non_ascii_share.clamp(0.0, 1.0));
        let (first, first_a, last, last_a) = if non_ascii {
            let f = FIRST_NA[r.gen_range(0..FIRST_NA.len())];
            let l = LAST_NA[r.gen_range(0..LAST_NA.len())];
            (
                f.0.to_string(),
                f.1.to_string(),
                l.0.to_string(),
                l.1.to_string(),
            )
        } else {
            let f = FIRST[r.gen_range(0..FIRST.len())];
            let l = LAST[r.gen_range(0..LAST.len())];
            (
                f.to_string(),
                f.to_lowercase(),
                l.to_string(),
                l.to_lowercase(),
            )
        };
        let guest = r.gen_bool(spec.guest_share.clamp(0.0, 1.0));
        let disabled = r.gen_bool(spec.disabled_share.clamp(0.0, 1.0));
        let photo = r.gen_bool(spec.photo_share.clamp(0.0, 1.0));
        let title = TITLES[r.gen_range(0..TITLES.len())];
        let dept = DEPTS[r.gen_range(0..DEPTS.len())];
        let slot = r.gen_range(0..groups.len());
        let also_top = r.gen_bool(0.05);
        let photo_bytes = photo.then(|| fake_jpeg(r));
        let local = format!("{first_a}.{last_a}.{tag}{i}");
        let (upn, mail, user_type, mut extra) = if guest {
            let home = format!("{local}@partner{}.example", i % 7);
            let upn = format!("{}#EXT#@{domain}", home.replace('@', "_"));
            let mut extra = Map::new();
            extra.insert(
                "otherMails".into(),
                Value::Array(vec![Value::String(home.clone())]),
            );
            extra.insert("creationType".into(), Value::String("Invitation".into()));
            extra.insert("externalUserState".into(), Value::String("Accepted".into()));
            (upn, home, "Guest", extra)
        } else {
            let upn = format!("{local}@{domain}");
            (upn.clone(), upn, "Member", Map::new())
        };
        extra.insert("companyName".into(), Value::String("Contoso".into()));
        let nu = NewUser {
            display_name: format!("{first} {last}"),
            upn,
            mail: Some(mail),
            job_title: Some(title.into()),
            department: Some(dept.into()),
            company_name: Some("Contoso".into()),
            account_enabled: !disabled,
            user_type: user_type.into(),
            extra,
        };
        let Ok(id) = w.create_user(tenant, nu, created) else {
            continue;
        };
        if let Some(b) = photo_bytes {
            let _ = w.set_photo(tenant, id, b, "image/jpeg");
        }
        let _ = w.add_member(tenant, groups[slot], id);
        if also_top && slot != 0 {
            let _ = w.add_member(tenant, group, id);
        }
        if guest {
            guest_ids.push(id);
        } else {
            user_ids.push(id);
        }
    }
    if spec.managers && !user_ids.is_empty() {
        add_managers(w, tenant, &user_ids, &tag, &domain, created);
    }
    Generated {
        group_id: group,
        user_ids,
        nested_group_ids: groups[1..].to_vec(),
        guest_ids,
    }
}

/// Reports per manager in the generated hierarchy.
const FANOUT: usize = 6;

/// The generated reporting lines (deterministic: no draw from the
/// generation RNG). User `k` reports to user `(k-1)/6`; the first user and
/// every ninth one report to a director outside the scope group.
fn add_managers(
    w: &mut World,
    tenant: Guid,
    users: &[Guid],
    tag: &str,
    domain: &str,
    created: f64,
) {
    let n_dir = 1 + users.len() / 40;
    let mut directors = Vec::with_capacity(n_dir);
    for d in 0..n_dir {
        let upn = format!("director{d}.{tag}@{domain}");
        let mut nu = NewUser::simple(&format!("Director {d}"), &upn);
        nu.job_title = Some("Director".into());
        nu.company_name = Some("Contoso".into());
        if let Ok(id) = w.create_user(tenant, nu, created) {
            directors.push(id);
        }
    }
    let Ok(t) = w.tenant_mut(tenant) else { return };
    for (k, id) in users.iter().enumerate() {
        let outside = k == 0 || k % 9 == 0;
        let m = if outside {
            directors.get((k / 9) % directors.len().max(1)).copied()
        } else {
            users.get((k - 1) / FANOUT).copied()
        };
        if let Some(m) = m.filter(|m| m != id) {
            t.set_manager(*id, Some(m));
        }
    }
}
