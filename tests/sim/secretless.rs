//! Secretless sign-in in the simulator, over real HTTP(S): the managed
//! identity endpoint (App Service protocol), the admin-consent URL, the
//! token endpoint's federated `client_assertion`, each refusal in Entra's
//! shape, and Microsoft's own `azure_identity::ClientAssertionCredential`
//! reaching the https listener.
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientMethodOptions, ClientOptions, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
};
use serde_json::Value;

use super::*;
use crate::support::perms::HOST_PERMS;

const EXCHANGE: &str = "api://AzureADTokenExchange";

/// `GET /msi/token` as ManagedIdentityCredential sends it.
async fn msi(e: &Env, header: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = e
        .http
        .get(e.sim.identity_endpoint())
        .query(query)
        .header("X-IDENTITY-HEADER", header)
        .header("metadata", "true")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn assertion_for(e: &Env, client_id: Guid) -> String {
    let (s, v) = msi(
        e,
        &e.sim.identity_header(),
        &[
            ("api-version", "2019-08-01"),
            ("resource", EXCHANGE),
            ("client_id", &client_id.to_string()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["access_token"].as_str().unwrap().to_string()
}

/// The token endpoint with a client assertion.
async fn exchange(e: &Env, tenant: &str, app: Guid, assertion: &str) -> (u16, Value) {
    let r = e
        .http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", e.base()))
        .form(&[
            ("client_id", app.to_string().as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn aadsts(v: &Value) -> u64 {
    v["error_codes"][0].as_u64().unwrap_or(0)
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap();
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

/// The managed identity's own Graph token carries the roles assigned to it
/// and writes to the host; the endpoint insists on its header, the api
/// version and an identity it knows.
#[tokio::test]
async fn the_managed_identity_gets_graph_tokens_with_its_assigned_roles() {
    let e = env(SimConfig::fast()).await;
    let mi = e.sim.add_managed_identity(e.host, HOST_PERMS);
    let hdr = e.sim.identity_header();
    let cid = mi.client_id.to_string();
    let q = |res: &'static str| {
        vec![
            ("api-version", "2019-08-01"),
            ("resource", res),
            ("client_id", cid.as_str()),
        ]
    };
    let (s, v) = msi(&e, &hdr, &q("https://graph.microsoft.com")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["client_id"], cid);
    let exp: i64 = v["expires_on"].as_str().unwrap().parse().unwrap();
    assert!(exp > chrono::Utc::now().timestamp());
    let tok = v["access_token"].as_str().unwrap();
    let c = claims(tok);
    assert_eq!(c["appid"], cid);
    assert_eq!(c["tid"], e.host.to_string());
    assert!(c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "User.Invite.All"));
    let (s, _) = e.invite(tok, "someone@partner.example").await;
    assert_eq!(s, 201, "the identity's token invites into the host");

    let (s, _) = msi(&e, "wrong", &q("https://graph.microsoft.com")).await;
    assert_eq!(s, 401, "a wrong X-IDENTITY-HEADER is refused");
    let (s, _) = msi(
        &e,
        &hdr,
        &[
            ("api-version", "2017-09-01"),
            ("resource", "https://graph.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(s, 400, "an unsupported api-version is refused");
    let (s, _) = msi(
        &e,
        &hdr,
        &[
            ("api-version", "2019-08-01"),
            ("resource", "https://graph.microsoft.com"),
            ("client_id", &Guid::new_v4().to_string()),
        ],
    )
    .await;
    assert_eq!(s, 400, "an identity not assigned is refused");
    let (s, v) = msi(&e, &hdr, &q("https://vault.azure.net")).await;
    assert_eq!(s, 400);
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("AADSTS500011"));
}

/// The federated exchange: refused until the source admin consents (through
/// the admin-consent URL), then a source token with the app's required
/// permissions that reads the source; refused for an app that does not
/// trust the identity, for forged, malformed and expired assertions, for a
/// secret on a secretless app, an unknown tenant, and after consent is
/// revoked.
#[tokio::test]
async fn the_federated_exchange_needs_admin_consent_and_a_trusting_credential() {
    let e = env(SimConfig::fast()).await;
    let mi = e.sim.add_managed_identity(e.host, &[]);
    let app = e.sim.add_federated_app(e.host, Some(mi.principal_id));
    let untrusting = e.sim.add_federated_app(e.host, None);
    let src = e.src.to_string();
    let a = assertion_for(&e, mi.client_id).await;
    let c = claims(&a);
    assert_eq!(c["aud"], EXCHANGE);
    assert_eq!(c["sub"], mi.principal_id.to_string());
    assert_eq!(
        c["iss"],
        format!("https://login.microsoftonline.com/{}/v2.0", e.host)
    );

    let (s, v) = exchange(&e, &src, app, &a).await;
    assert_eq!((s, aadsts(&v)), (400, 700016), "no consent yet: {v}");
    assert!(!e.sim.has_consented(e.src, app));

    // The source admin opens the consent URL and accepts.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{}/{src}/v2.0/adminconsent", e.base()))
        .query(&[
            ("client_id", app.to_string().as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("redirect_uri", "https://localhost/done"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://localhost/done?"), "{loc}");
    assert!(loc.contains("admin_consent=True") && loc.contains(&src) && loc.contains("state=s1"));
    assert!(e.sim.has_consented(e.src, app));

    let (s, v) = exchange(&e, &src, app, &a).await;
    assert_eq!(s, 200, "{v}");
    let tok = v["access_token"].as_str().unwrap();
    let c = claims(tok);
    assert_eq!(
        (c["tid"].as_str(), c["appid"].as_str()),
        (Some(src.as_str()), Some(app.to_string().as_str()))
    );
    let (s, _) = e.get(tok, "users?$top=1").await;
    assert_eq!(s, 200, "the exchanged token reads the source");

    // Consent for the untrusting app does not make it trust the identity.
    e.sim.grant_admin_consent(e.src, untrusting);
    let (s, v) = exchange(&e, &src, untrusting, &a).await;
    assert_eq!((s, aadsts(&v)), (400, 70021), "{v}");
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains(&mi.principal_id.to_string()));
    // ... until it gets a federated credential for it.
    e.sim.trust_identity(untrusting, mi.principal_id);
    assert_eq!(exchange(&e, &src, untrusting, &a).await.0, 200);

    let (s, v) = exchange(&e, &src, app, "not-a-jwt").await;
    assert_eq!((s, aadsts(&v)), (400, 50027));
    let (s, v) = exchange(&e, &src, app, "aaa.bbb.ccc").await;
    assert_eq!((s, aadsts(&v)), (400, 700027), "a forged assertion");
    let (s, v) = exchange(&e, &Guid::new_v4().to_string(), app, &a).await;
    assert_eq!((s, aadsts(&v)), (400, 90002));
    let r = e.token_response(&src, &app.to_string(), "").await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(aadsts(&v), 7000218, "no credential at all");
    let r = e.token_response(&src, &app.to_string(), "guess").await;
    assert_eq!(r.status(), 401, "a secretless app has no secret to guess");

    e.sim.advance(10.0 * 3_600_000.0);
    let (s, v) = exchange(&e, &src, app, &a).await;
    assert_eq!((s, aadsts(&v)), (400, 700024), "an expired assertion");

    let fresh = assertion_for(&e, mi.client_id).await;
    e.sim.revoke_consent(e.src, app);
    let (s, v) = exchange(&e, &src, app, &fresh).await;
    assert_eq!((s, aadsts(&v)), (400, 700016), "consent revoked");
}

/// The admin-consent page refuses an unknown app and an unknown tenant,
/// and answers a page (no redirect) when no redirect URI is given; the
/// control interface grants and revokes too.
#[tokio::test]
async fn admin_consent_errors_and_the_control_interface() {
    let e = env(SimConfig::fast()).await;
    let mi = e.sim.add_managed_identity(e.host, &[]);
    let app = e.sim.add_federated_app(e.host, Some(mi.principal_id));
    let src = e.src.to_string();
    let get = |path: String| {
        let http = e.http.clone();
        async move { http.get(path).send().await.unwrap() }
    };
    let r = get(format!(
        "{}/{src}/adminconsent?client_id={}",
        e.base(),
        Guid::new_v4()
    ))
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    let r = get(format!(
        "{}/{}/adminconsent?client_id={app}",
        e.base(),
        Guid::new_v4()
    ))
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS90002"));
    assert!(!e.sim.has_consented(e.src, app));
    let r = get(format!("{}/{src}/adminconsent?client_id={app}", e.base())).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Permissions granted"));
    assert!(e.sim.has_consented(e.src, app));

    let r = e
        .http
        .delete(format!("{}/_sim/tenants/{src}/consents/{app}", e.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(!e.sim.has_consented(e.src, app));
    let r = e
        .http
        .post(format!("{}/_sim/tenants/{src}/consents", e.base()))
        .json(&serde_json::json!({"appId": app}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(e.sim.has_consented(e.src, app));

    // Identities and federated apps over /_sim, for `sim serve` scripts.
    let r = e
        .http
        .post(format!("{}/_sim/tenants/{}/identities", e.base(), e.host))
        .json(&serde_json::json!({"roles": ["User.Read.All"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let idn: Value = r.json().await.unwrap();
    let principal = idn["principalId"].as_str().unwrap().to_string();
    let r = e
        .http
        .post(format!(
            "{}/_sim/tenants/{}/federated-apps",
            e.base(),
            e.host
        ))
        .json(&serde_json::json!({"trustedIdentity": principal}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert!(Guid::parse_named(v["appId"].as_str().unwrap(), "appId").is_ok());
    let info: Value = e
        .http
        .get(format!("{}/_sim/identity", e.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["identityEndpoint"], e.sim.identity_endpoint());
    assert_eq!(info["identities"].as_array().unwrap().len(), 2);
    let _ = mi;
}

/// An assertion fetched from the identity endpoint (as
/// ManagedIdentityCredential would), for the crate's credential.
#[derive(Debug)]
struct FromEndpoint {
    http: reqwest::Client,
    endpoint: String,
    header: String,
    client_id: String,
}

#[async_trait::async_trait]
impl ClientAssertion for FromEndpoint {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let v: Value = self
            .http
            .get(&self.endpoint)
            .query(&[
                ("api-version", "2019-08-01"),
                ("resource", EXCHANGE),
                ("client_id", self.client_id.as_str()),
            ])
            .header("X-IDENTITY-HEADER", &self.header)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Ok(v["access_token"].as_str().unwrap().to_string())
    }
}

/// Microsoft's `ClientAssertionCredential` (which refuses an http
/// authority) gets a source token from the https listener, trusting the
/// simulator's CA; the token reads Graph.
#[tokio::test]
async fn azure_identity_client_assertion_credential_reaches_the_https_listener() {
    let e = env(SimConfig::fast()).await;
    let https = e.sim.serve_tls().await.unwrap();
    assert_eq!(e.sim.https_url(), Some(https.clone()));
    assert_eq!(https.scheme(), "https");
    let pem = e.sim.tls_ca_pem().unwrap();
    let mi = e.sim.add_managed_identity(e.host, &[]);
    let app = e.sim.add_federated_app(e.host, Some(mi.principal_id));
    e.sim.grant_admin_consent(e.src, app);

    let tls_http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    // Untrusted without the CA.
    assert!(reqwest::Client::new()
        .get(format!("{https}_sim/health"))
        .send()
        .await
        .is_err());
    let health = tls_http
        .get(format!("{https}_sim/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let mut custom = azure_core::cloud::CustomConfiguration::default();
    custom.authority_host = https.as_str().trim_end_matches('/').to_string();
    let options = ClientAssertionCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(tls_http.clone()))),
            cloud: Some(Arc::new(custom.into())),
            ..Default::default()
        },
    };
    let cred = ClientAssertionCredential::new(
        e.src.to_string(),
        app.to_string(),
        FromEndpoint {
            http: e.http.clone(),
            endpoint: e.sim.identity_endpoint(),
            header: e.sim.identity_header(),
            client_id: mi.client_id.to_string(),
        },
        Some(options),
    )
    .unwrap();
    let t = cred
        .get_token(&["https://graph.microsoft.com/.default"], None)
        .await
        .unwrap();
    let tok = t.token.secret().to_string();
    assert_eq!(claims(&tok)["tid"], e.src.to_string());
    let (s, _) = e.get(&tok, "users?$top=1").await;
    assert_eq!(s, 200);
}
