//! Graph client tests against the simulator over real HTTP: every
//! operation (paging across pages, `$batch` with mixed results), every error
//! type, token expiry mid-run, a token of one tenant refused by another,
//! and a throttled, faulty workload whose writes all land exactly once.
use std::collections::HashSet;

use futures::StreamExt;
use guest_sync::devtools::sim::{Faults, GenerateSpec, NewUser, SimConfig};
use guest_sync::domain::Guid;
use guest_sync::graph::{
    AadstsCode, AppCredentials, BatchRequest, GraphClient, GraphConfig, GraphError, InviteRequest,
    TenantGraph, GUEST_SELECT,
};
use guest_sync::secrets::SecretString;
use serde_json::{json, Map, Value};

use crate::support::perms::ALL_PERMS;
use crate::support::world::{World, HOST_APP_SECRET};

mod delta;

/// The host app's real secret.
const SECRET: &str = HOST_APP_SECRET;

/// The test world's host tenant and app (granted the permissions asked
/// for) and the world's Graph client. Derefs to the world (`w.sim`).
struct Host {
    world: World,
    tenant: Guid,
    app: Guid,
    client: GraphClient,
}

impl std::ops::Deref for Host {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl Host {
    async fn start(cfg: SimConfig, perms: &[&str]) -> Host {
        let world = World::builder().sim(cfg).host_perms(perms).build().await;
        Host {
            tenant: world.host,
            app: world.host_app,
            client: world.graph.clone(),
            world,
        }
    }

    async fn fast() -> Host {
        Host::start(SimConfig::fast(), ALL_PERMS).await
    }

    fn creds(&self, secret: &str) -> AppCredentials {
        AppCredentials {
            tenant_id: self.tenant,
            client_id: self.app,
            secret: SecretString::new(secret),
        }
    }

    fn graph(&self) -> TenantGraph {
        self.client.tenant(self.creds(SECRET))
    }
}

fn invite_req(email: &str) -> InviteRequest {
    InviteRequest {
        email: email.to_string(),
        display_name: Some("Guest Person".into()),
        redirect_url: "https://myapplications.microsoft.com".into(),
        user_type: "Guest".into(),
    }
}

fn patch(k: &str, v: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(k.to_string(), v);
    m
}

/// Transitive user members are read across several pages (999 per page),
/// nested groups included, with a progress callback and the count.
#[tokio::test]
async fn group_members_are_read_across_pages() {
    let w = Host::fast().await;
    let gen = w.sim.generate_source(
        w.tenant,
        &GenerateSpec {
            users: 2_300,
            nested_depth: 2,
            ..GenerateSpec::default()
        },
    );
    let g = w.graph();
    let mut pages = Vec::new();
    let read = g
        .for_each_group_member_page(gen.group_id, &["displayName", "mail"], |p| {
            pages.push(p.len())
        })
        .await;
    assert!(read.complete(), "{:?}", read.error);
    assert!(read.pages >= 3, "pages: {pages:?}");
    let expected: HashSet<Guid> = w
        .sim
        .transitive_user_members(w.tenant, gen.group_id)
        .into_iter()
        .collect();
    assert_eq!(read.items as usize, expected.len());
    assert_eq!(read.reported_count, Some(expected.len() as u64));
    let all = g
        .group_user_members(gen.group_id, &["displayName"])
        .await
        .unwrap();
    let got: HashSet<Guid> = all.iter().map(|u| u.id).collect();
    assert_eq!(got, expected);
    assert!(all.iter().all(|u| u.display_name().is_some()));
    assert_eq!(
        g.count_group_user_members(gen.group_id).await.unwrap(),
        expected.len() as u64
    );
    let group = g.get_group(gen.group_id, &[]).await.unwrap();
    assert_eq!(group.id, gen.group_id);
    assert!(group.display_name().is_some());
}

/// Users are found by id, by UPN and by address (mail, other mails, UPN),
/// quotes in addresses included; an unknown UPN is None.
#[tokio::test]
async fn users_are_found_by_id_upn_and_address() {
    let w = Host::fast().await;
    let mut nu = NewUser::simple("O'Brien", "o'brien@host.onmicrosoft.com");
    nu.mail = Some("o'brien@contoso.com".into());
    nu.job_title = Some("Engineer".into());
    nu.extra
        .insert("otherMails".into(), json!(["ob@fabrikam.com"]));
    let id = w.sim.create_user(w.tenant, nu);
    let g = w.graph();
    let u = g.get_user(id, &["displayName", "jobTitle"]).await.unwrap();
    assert_eq!(u.display_name(), Some("O'Brien"));
    assert_eq!(u.str("jobTitle"), Some("Engineer"));
    let by_upn = g
        .get_user_by_upn("o'brien@host.onmicrosoft.com", &["mail"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_upn.id, id);
    assert!(g
        .get_user_by_upn("nobody@host.onmicrosoft.com", &[])
        .await
        .unwrap()
        .is_none());
    for addr in [
        "o'brien@contoso.com",
        "OB@fabrikam.com",
        "o'brien@host.onmicrosoft.com",
    ] {
        let found = g.find_users_by_address(addr, &["mail"]).await.unwrap();
        assert_eq!(
            found.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![id],
            "{addr}"
        );
    }
    assert!(g
        .find_users_by_address("x' or userType eq 'Member", &[])
        .await
        .unwrap()
        .is_empty());
    let missing = g.get_user(Guid::new_v4(), &[]).await.unwrap_err();
    assert!(matches!(missing, GraphError::NotFound { .. }), "{missing}");
    assert_eq!(missing.status(), Some(404));
}

/// Invite, list guests, patch, delete, list deleted, restore: the host
/// changes as asked, and re-inviting returns the same guest.
#[tokio::test]
async fn guest_lifecycle_invite_patch_delete_restore() {
    let w = Host::fast().await;
    let g = w.graph();
    let inv = g.invite(&invite_req("ann@contoso.com")).await.unwrap();
    assert_eq!(inv.status, "PendingAcceptance");
    let again = g.invite(&invite_req("ann@contoso.com")).await.unwrap();
    assert_eq!(again.user_id, inv.user_id);
    let guests = g.list_guests(&[]).await.unwrap();
    let me = guests.iter().find(|u| u.id == inv.user_id).unwrap();
    assert_eq!(me.external_user_state(), Some("PendingAcceptance"));
    assert!(me.has_address("ann@contoso.com"));
    assert_eq!(me.creation_type(), Some("Invitation"));
    let found = g
        .find_users_by_address("ann@contoso.com", GUEST_SELECT)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);

    let mut p = patch("jobTitle", json!("Chief Tester"));
    p.insert("accountEnabled".into(), json!(false));
    g.patch_user(inv.user_id, &p).await.unwrap();
    let host = w.sim.user(w.tenant, inv.user_id).unwrap();
    assert_eq!(host.str("jobTitle"), Some("Chief Tester"));
    assert_eq!(host.attributes.get("accountEnabled"), Some(&json!(false)));

    g.delete_user(inv.user_id).await.unwrap();
    assert!(w.sim.user(w.tenant, inv.user_id).is_none());
    let deleted = g.list_deleted_users(&["displayName"]).await.unwrap();
    assert!(deleted.iter().any(|u| u.id == inv.user_id));
    g.restore_deleted_user(inv.user_id).await.unwrap();
    assert!(w.sim.user(w.tenant, inv.user_id).is_some());
    let gone = g.delete_user(Guid::new_v4()).await.unwrap_err();
    assert!(matches!(gone, GraphError::NotFound { .. }), "{gone}");
}

/// Photo metadata carries the media ETag; bytes round-trip; put and delete
/// change the host; a user without photo gives None.
#[tokio::test]
async fn photos_are_read_written_and_removed() {
    let w = Host::fast().await;
    let g = w.graph();
    let id = w
        .sim
        .create_user(w.tenant, NewUser::simple("Pic", "pic@host.onmicrosoft.com"));
    assert!(g.photo_meta(id).await.unwrap().is_none());
    assert!(g.photo(id).await.unwrap().is_none());
    w.sim.set_photo(w.tenant, id, vec![0xFF, 0xD8, 1, 2, 3]);
    let meta = g.photo_meta(id).await.unwrap().unwrap();
    assert!(meta.media_etag.is_some());
    let photo = g.photo(id).await.unwrap().unwrap();
    assert_eq!(photo.bytes.as_ref(), &[0xFF, 0xD8, 1, 2, 3]);

    let guest = g.invite(&invite_req("pic@contoso.com")).await.unwrap();
    g.put_photo(guest.user_id, photo.bytes.clone(), "image/jpeg")
        .await
        .unwrap();
    let host = w.sim.user(w.tenant, guest.user_id).unwrap();
    assert_eq!(host.photo.map(|p| p.1), Some(vec![0xFF, 0xD8, 1, 2, 3]));
    g.delete_photo(guest.user_id).await.unwrap();
    assert!(w.sim.user(w.tenant, guest.user_id).unwrap().photo.is_none());
    // deleting again is fine
    g.delete_photo(guest.user_id).await.unwrap();

    // A photo over Graph's 4 MB is not downloaded past the cap.
    w.sim.set_photo(w.tenant, id, vec![0xFF; 5 * 1024 * 1024]);
    let big = g.photo(id).await.unwrap().unwrap();
    assert!(big.bytes.is_empty());
    assert_eq!(big.oversize, Some(5 * 1024 * 1024));
    // and Graph takes JPEG only
    let png = g
        .put_photo(guest.user_id, photo.bytes.clone(), "image/png")
        .await
        .unwrap_err();
    assert!(png.to_string().contains("image/png"), "{png}");
}

/// Adding a group member twice succeeds and leaves one membership.
#[tokio::test]
async fn adding_a_group_member_is_idempotent() {
    let w = Host::fast().await;
    let g = w.graph();
    let group = w.sim.create_group(w.tenant, "All guests");
    let guest = g.invite(&invite_req("m@contoso.com")).await.unwrap();
    g.add_group_member(group, guest.user_id).await.unwrap();
    g.add_group_member(group, guest.user_id).await.unwrap();
    assert_eq!(w.sim.group_members(w.tenant, group), vec![guest.user_id]);
}

/// A `$batch` returns one result per item in order: successes, a 404 and
/// a bad request side by side; more than 20 items is refused.
#[tokio::test]
async fn batch_returns_mixed_results_in_order() {
    let w = Host::fast().await;
    let g = w.graph();
    let a = g
        .invite(&invite_req("a@contoso.com"))
        .await
        .unwrap()
        .user_id;
    let b = g
        .invite(&invite_req("b@contoso.com"))
        .await
        .unwrap()
        .user_id;
    let missing = Guid::new_v4();
    let res = g
        .batch(vec![
            BatchRequest::patch_user(a, &patch("department", json!("R&D"))),
            BatchRequest::patch_user(missing, &patch("department", json!("X"))),
            BatchRequest::get_user(b, &["id", "mail"]),
            BatchRequest::patch_user(b, &patch("noSuchProperty", json!(1))),
            BatchRequest::invite(&invite_req("c@contoso.com")),
        ])
        .await
        .unwrap();
    assert_eq!(res.len(), 5);
    assert!(res[0].result.is_ok(), "{:?}", res[0]);
    assert!(
        matches!(res[1].result, Err(GraphError::NotFound { .. })),
        "{:?}",
        res[1]
    );
    let got = res[2].result.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(got["mail"], json!("b@contoso.com"));
    assert!(
        matches!(res[3].result, Err(GraphError::Permanent { .. })),
        "{:?}",
        res[3]
    );
    assert_eq!(res[4].status, 201);
    assert_eq!(
        w.sim.user(w.tenant, a).unwrap().str("department"),
        Some("R&D")
    );
    let too_many = (0..21).map(|_| BatchRequest::delete_user(a)).collect();
    assert!(g.batch(too_many).await.is_err());
}

/// Each token failure maps to its AADSTS code with an actionable message.
#[tokio::test]
async fn token_errors_map_to_aadsts_codes() {
    let w = Host::fast().await;
    let wrong = w.client.tenant(w.creds("not-the-secret"));
    let e = wrong.get_user(Guid::new_v4(), &[]).await.unwrap_err();
    match &e {
        GraphError::Auth { code, message, .. } => {
            assert_eq!(*code, AadstsCode::InvalidSecret);
            assert!(message.contains(&w.app.to_string()), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(e.status().is_some());
    assert!(!e.to_string().contains("not-the-secret"));

    let stranger = AppCredentials {
        client_id: Guid::new_v4(),
        ..w.creds(SECRET)
    };
    let e = w.client.check_credentials(&stranger).await.unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::AppNotFound,
                ..
            }
        ),
        "{e}"
    );

    let nowhere = AppCredentials {
        tenant_id: Guid::new_v4(),
        ..w.creds(SECRET)
    };
    let e = w.client.check_credentials(&nowhere).await.unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::TenantNotFound,
                ..
            }
        ),
        "{e}"
    );

    w.sim.expire_app_secret(w.tenant, w.app);
    let e = w
        .client
        .check_credentials(&w.creds(SECRET))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::ExpiredSecret,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("new secret"), "{e}");
}

/// Missing permissions give Forbidden naming the permission the operation
/// needs; restricted invitations give InvitationsRestricted.
#[tokio::test]
async fn forbidden_names_the_permission_and_invites_can_be_restricted() {
    let w = Host::start(SimConfig::fast(), &["User.Read.All"]).await;
    let g = w.graph();
    let group = w.sim.create_group(w.tenant, "G");
    let e = g.group_user_members(group, &[]).await.unwrap_err();
    match &e {
        GraphError::Forbidden {
            missing_permission, ..
        } => assert_eq!(missing_permission.as_deref(), Some("GroupMember.Read.All")),
        other => panic!("{other}"),
    }
    assert_eq!(e.status(), Some(403));
    let e = g.invite(&invite_req("x@contoso.com")).await.unwrap_err();
    assert!(e.to_string().contains("User.Invite.All"), "{e}");

    let w = Host::fast().await;
    w.sim.restrict_invitations(w.tenant, true);
    let e = w
        .graph()
        .invite(&invite_req("x@contoso.com"))
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::InvitationsRestricted { .. }), "{e}");
    assert!(!e.is_transient());
}

/// A token that expires mid-run (the simulator's clock jumps past it) is
/// replaced transparently; every error names a client-request-id.
#[tokio::test]
async fn an_expired_token_is_replaced_mid_run() {
    let cfg = SimConfig {
        token_lifetime_secs: 3_599,
        ..SimConfig::fast()
    };
    let w = Host::start(cfg, ALL_PERMS).await;
    let g = w.graph();
    let id = w
        .sim
        .create_user(w.tenant, NewUser::simple("T", "t@host.onmicrosoft.com"));
    g.get_user(id, &[]).await.unwrap();
    assert_eq!(w.client.stats().token_requests, 1);
    w.sim.advance(4_000.0);
    g.get_user(id, &[]).await.unwrap();
    assert_eq!(w.client.stats().token_requests, 2);
}

/// A token issued for tenant A is refused when the call is pinned to
/// tenant B, surfacing as an authentication error with status 401.
#[tokio::test]
async fn a_token_of_tenant_a_is_refused_on_tenant_b() {
    let w = Host::fast().await;
    let other = Guid::new_v4();
    w.sim.add_tenant(other, "B", "b.onmicrosoft.com");
    let pinned = w.sim.url().join(&format!("{other}/")).unwrap();
    let client =
        GraphClient::new(GraphConfig::new(pinned, w.sim.url()).with_time_scale(1000.0)).unwrap();
    let e = client
        .tenant(w.creds(SECRET))
        .get_user(Guid::new_v4(), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::Auth { .. }), "{e}");
    assert_eq!(e.status(), Some(401));
    assert!(!e.client_request_id().is_nil());
}

/// Under Graph's throttling and 5% injected 5xx faults, 1,000 invitations
/// plus 1,000 profile patches (2,000 writes, run 64 at a time) all land
/// exactly once, and fewer than 1% of requests are answered 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_faulty_workload_applies_every_write_once() {
    let cfg = SimConfig {
        time_scale: 50.0,
        faults: Faults {
            error_5xx_rate: 0.05,
            ..Faults::default()
        },
        ..SimConfig::fast()
    };
    let w = Host::start(cfg, ALL_PERMS).await;
    let g = w.graph();
    let results: Vec<Result<Guid, GraphError>> = futures::stream::iter(0..1_000)
        .map(|i| {
            let g = g.clone();
            async move {
                let inv = g
                    .invite(&invite_req(&format!("user{i}@contoso.com")))
                    .await?;
                g.patch_user(inv.user_id, &patch("department", json!(format!("D{i}"))))
                    .await?;
                Ok(inv.user_id)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let ids: Vec<Guid> = results.into_iter().map(|r| r.unwrap()).collect();
    let counts = w.sim.counts();
    for id in &ids {
        assert_eq!(counts.op_for("invite", *id), 1, "invite of {id}");
        assert_eq!(counts.op_for("patch", *id), 1, "patch of {id}");
    }
    assert_eq!(counts.writes_total(), 2_000);
    let throttled = counts.status(429);
    assert!(counts.status_class(5) > 0, "faults were injected");
    assert!(
        (throttled as f64) < 0.01 * counts.total as f64,
        "{throttled} of {} requests were throttled",
        counts.total
    );
    let stats = w.client.stats();
    assert!(stats.retries > 0);
}

/// Objects still inside Graph's consistency window answer 404 for a
/// moment: the client retries them (ids it created itself, or ids the
/// caller marks fresh) and the call succeeds.
#[tokio::test]
async fn fresh_objects_are_retried_past_eventual_consistency_404s() {
    let cfg = SimConfig {
        time_scale: 100.0,
        consistency_window_ms: 10_000,
        ..SimConfig::fast()
    };
    let w = Host::start(cfg, ALL_PERMS).await;
    let g = w.graph();
    let inv = g.invite(&invite_req("new@contoso.com")).await.unwrap();
    g.patch_user(inv.user_id, &patch("jobTitle", json!("Fresh")))
        .await
        .unwrap();
    assert_eq!(
        w.sim.user(w.tenant, inv.user_id).unwrap().str("jobTitle"),
        Some("Fresh")
    );
    let pre = w.sim.create_guest(w.tenant, "old@contoso.com", "Old");
    g.mark_fresh(pre);
    assert_eq!(g.get_user(pre, &[]).await.unwrap().id, pre);
    assert!(w.sim.counts().status(404) > 0, "the window did answer 404s");
}

/// Many tasks asking for a token at once cause one token request.
#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let w = Host::fast().await;
    let id = w
        .sim
        .create_user(w.tenant, NewUser::simple("S", "s@host.onmicrosoft.com"));
    let g = w.graph();
    let all = futures::future::join_all((0..50).map(|_| g.get_user(id, &[]))).await;
    assert!(all.iter().all(|r| r.is_ok()));
    assert_eq!(w.client.stats().token_requests, 1);
    assert_eq!(w.client.stats().requests, 50);
}

/// A request that outlives the timeout is retried, then reported as a
/// transient failure without an HTTP status.
#[tokio::test]
async fn a_request_past_its_timeout_is_a_transient_error() {
    let w = Host::fast().await;
    let id = w
        .sim
        .create_user(w.tenant, NewUser::simple("S", "slow@host.onmicrosoft.com"));
    w.sim.set_faults(Faults {
        slow_rate: 1.0,
        slow_ms: 10_000_000,
        ..Faults::default()
    });
    let mut cfg = GraphConfig::new(w.sim.url(), w.sim.url()).with_time_scale(1000.0);
    cfg.request_timeout = std::time::Duration::from_millis(200);
    cfg.max_retries = 1;
    let client = GraphClient::new(cfg).unwrap();
    let e = client
        .tenant(w.creds(SECRET))
        .get_user(id, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, GraphError::Transient { .. }), "{e}");
    assert!(e.is_transient());
    assert_eq!(e.status(), None);
    assert_eq!(client.stats().retries, 1);
}

/// Two processes sharing one app's invitation budget: `$batch` items
/// answered 429 are re-submitted after their Retry-After, and every
/// invitation lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_items_throttled_by_graph_are_resubmitted() {
    let cfg = SimConfig {
        time_scale: 5.0,
        ..SimConfig::fast()
    };
    let w = Host::start(cfg, ALL_PERMS).await;
    // A second client = another process that does not share our pacer.
    let other =
        GraphClient::new(GraphConfig::new(w.sim.url(), w.sim.url()).with_time_scale(5.0)).unwrap();
    let graphs = [w.graph(), other.tenant(w.creds(SECRET))];
    let jobs = (0..16).map(|b| {
        let g = graphs[b % 2].clone();
        async move {
            let items = (0..20)
                .map(|i| BatchRequest::invite(&invite_req(&format!("b{b}-{i}@contoso.com"))))
                .collect();
            g.batch(items).await
        }
    });
    let results = futures::future::join_all(jobs).await;
    let mut ids = Vec::new();
    for r in results {
        for item in r.unwrap() {
            let body = item.result.unwrap().unwrap();
            ids.push(Guid::parse_named(body["invitedUser"]["id"].as_str().unwrap(), "id").unwrap());
        }
    }
    assert_eq!(ids.len(), 320);
    let counts = w.sim.counts();
    for id in &ids {
        assert_eq!(counts.op_for("invite", *id), 1);
    }
    let seen = w.client.stats().throttled + other.stats().throttled;
    assert!(seen > 0, "the shared budget did throttle some items");
    assert_eq!(seen, counts.status(429));
}

/// A token endpoint that redirects (307 keeps the method and the body,
/// so following it would post the client secret to another host): the
/// client does not follow, the error names the endpoint and the setting,
/// and the other host never hears from it.
#[tokio::test]
async fn a_redirecting_token_endpoint_never_gets_the_secret_forwarded() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let thief_hits = Arc::new(AtomicUsize::new(0));
    let thief = {
        let hits = thief_hits.clone();
        axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                "{}"
            }
        })
    };
    let serve = |router: axum::Router| async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
        addr
    };
    let thief_addr = serve(thief).await;
    let authority = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [(
                axum::http::header::LOCATION,
                format!("http://{thief_addr}/steal?from=token"),
            )],
        )
    });
    let auth_addr = serve(authority).await;
    let url = |a: std::net::SocketAddr| url::Url::parse(&format!("http://{a}/")).unwrap();
    let client = GraphClient::new(GraphConfig::new(url(thief_addr), url(auth_addr))).unwrap();
    let secret = "Sup3r-Secret-Value-That-Must-Not-Travel";
    let g = client.tenant(AppCredentials {
        tenant_id: Guid::new_v4(),
        client_id: Guid::new_v4(),
        secret: SecretString::new(secret),
    });
    let e = g.get_group(Guid::new_v4(), &["id"]).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("redirect"), "{msg}");
    assert!(msg.contains("GUESTSYNC_AUTHORITY_URL"), "{msg}");
    assert!(msg.contains(&auth_addr.to_string()), "{msg}");
    assert!(!msg.contains(secret));
    assert!(
        !msg.contains("steal"),
        "the error shows the redirect's path: {msg}"
    );
    assert_eq!(
        thief_hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}
