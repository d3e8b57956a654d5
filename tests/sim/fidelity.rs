//! The simulator's answers have the shapes Graph and Entra document
//! (compared structurally with pinned fixtures: keys and types, not ids).
use super::*;
use guest_sync::devtools::sim::{GenerateSpec, NewUser};

/// A token answer has token_type, expires_in, ext_expires_in and access_token.
#[tokio::test]
async fn a_token_answer_has_the_documented_shape() {
    let e = env(SimConfig::fast()).await;
    let r = e
        .token_response(&e.src.to_string(), &e.src_app.to_string(), SRC_SECRET)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_same_shape(&fixture("token.json"), &v, "token");
    assert_eq!(v["token_type"], "Bearer");
}

/// A wrong secret answers 401 with AADSTS7000215 in Entra's error shape.
#[tokio::test]
async fn a_wrong_secret_answers_aadsts7000215_in_entras_error_shape() {
    let e = env(SimConfig::fast()).await;
    let r = e
        .token_response(&e.src.to_string(), &e.src_app.to_string(), "nope")
        .await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_same_shape(&fixture("aad_error.json"), &v, "aad");
    assert_eq!(v["error_codes"][0], 7000215);
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215:"));
}

/// GET /users/{id} without $select returns Graph's default properties.
#[tokio::test]
async fn a_user_answer_has_graphs_default_properties() {
    let e = env(SimConfig::fast()).await;
    let mut nu = NewUser::simple("Adele Vance", "adele@source.onmicrosoft.com");
    nu.job_title = Some("Retail Manager".into());
    let id = e.sim.create_user(e.src, nu);
    let tok = e.src_token().await;
    let (s, v) = e.get(&tok, &format!("users/{id}")).await;
    assert_eq!(s, 200);
    assert_same_shape(&fixture("user.json"), &v, "user");
    assert_eq!(v["id"], id.to_string());
    // By UPN too.
    let (s, v) = e.get(&tok, "users/adele@source.onmicrosoft.com").await;
    assert_eq!((s, v["id"].as_str()), (200, Some(id.to_string().as_str())));
}

/// A transitive member page carries @odata.count, @odata.nextLink and the selected properties.
#[tokio::test]
async fn a_member_page_has_count_next_link_and_selected_properties() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let tok = e.src_token().await;
    let (s, v) = e
        .get(
            &tok,
            &format!("groups/{}/transitiveMembers/microsoft.graph.user?$select=id,displayName,mail,userPrincipalName,accountEnabled,userType&$top=2&$count=true", g.group_id),
        )
        .await;
    assert_eq!(s, 200);
    assert_same_shape(&fixture("member_page.json"), &v, "page");
    assert_eq!(v["@odata.count"], g.user_ids.len());
}

/// An invitation answers 201 with invitedUser.id and creates the guest as docs/simulator.md says.
#[tokio::test]
async fn an_invitation_answers_201_and_creates_a_pending_guest() {
    let e = env(SimConfig::fast()).await;
    let tok = e.host_token().await;
    let (s, v) = e.invite(&tok, "Ann@Fabrikam.com").await;
    assert_eq!(s, 201);
    assert_same_shape(&fixture("invitation_201.json"), &v, "invitation");
    assert_eq!(v["status"], "PendingAcceptance");
    let id: Guid = v["invitedUser"]["id"].as_str().unwrap().parse().unwrap();
    let u = e.sim.user(e.host, id).unwrap();
    assert_eq!(
        u.str("userPrincipalName"),
        Some("Ann_Fabrikam.com#EXT#@host.onmicrosoft.com")
    );
    assert_eq!(u.str("userType"), Some("Guest"));
    assert_eq!(u.str("externalUserState"), Some("PendingAcceptance"));
    assert_eq!(u.str("creationType"), Some("Invitation"));
    assert_eq!(u.attributes["otherMails"][0], "Ann@Fabrikam.com");
}

/// A Graph error has code, message and innerError; client-request-id is echoed.
#[tokio::test]
async fn a_graph_error_has_inner_error_and_echoes_the_client_request_id() {
    let e = env(SimConfig::fast()).await;
    let tok = e.src_token().await;
    let r = e
        .req(
            reqwest::Method::GET,
            &tok,
            &format!("users/{}", Guid::new_v4()),
        )
        .header("client-request-id", "my-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["client-request-id"], "my-request-1");
    assert!(r.headers().contains_key("request-id"));
    let v: Value = r.json().await.unwrap();
    assert_same_shape(&fixture("error.json"), &v, "error");
    assert_eq!(v["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        v["error"]["innerError"]["client-request-id"],
        "my-request-1"
    );
}

/// Photo metadata carries @odata.mediaEtag; no photo answers 404 ImageNotFound.
#[tokio::test]
async fn photo_metadata_has_a_media_etag_and_no_photo_is_image_not_found() {
    let e = env(SimConfig::fast()).await;
    let a = e
        .sim
        .create_user(e.src, NewUser::simple("A B", "a@source.onmicrosoft.com"));
    let b = e
        .sim
        .create_user(e.src, NewUser::simple("C D", "c@source.onmicrosoft.com"));
    e.sim
        .set_photo(e.src, a, vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]);
    let tok = e.src_token().await;
    let (s, v) = e.get(&tok, &format!("users/{a}/photo")).await;
    assert_eq!(s, 200);
    assert_same_shape(&fixture("photo_meta.json"), &v, "photo");
    let etag = v["@odata.mediaEtag"].clone();
    let bytes = e
        .req(
            reqwest::Method::GET,
            &tok,
            &format!("users/{a}/photo/$value"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), &[0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]);
    e.sim.set_photo(e.src, a, vec![0xFF, 0xD8, 9, 0xFF, 0xD9]);
    let (_, v) = e.get(&tok, &format!("users/{a}/photo")).await;
    assert_ne!(v["@odata.mediaEtag"], etag, "a new photo has a new ETag");
    let (s, v) = e.get(&tok, &format!("users/{b}/photo")).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("ImageNotFound"))
    );
}
