//! `/users/{id}/photo`: metadata, bytes, upload (with Graph's checks and
//! the new-guest cool-down) and removal.
use serde_json::json;

use super::{live_user, tenant, READ_PHOTO, WRITE_PHOTO};
use crate::devtools::sim::http::{Call, GBody, GReq, GResp};
use crate::devtools::sim::model::World;

/// Largest photo Graph accepts.
const MAX_PHOTO: usize = 4 * 1024 * 1024;

fn image_not_found() -> GResp {
    GResp::error(
        404,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}

pub(super) fn photo_meta(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    match t.users.get(&id).and_then(|u| u.photo.as_ref()) {
        None if t.photo_placeholders => GResp::json(
            200,
            json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/photo/$entity"),
                "@odata.mediaContentType": "image/gif",
                "@odata.mediaEtag": "",
                "id": "1x1",
                "height": 1,
                "width": 1,
            }),
        ),
        None => image_not_found(),
        Some(p) => GResp::json(
            200,
            json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/photo/$entity"),
                "@odata.mediaContentType": p.content_type,
                "@odata.mediaEtag": p.etag,
                "id": "240X240",
                "height": 240,
                "width": 240,
            }),
        ),
    }
}

pub(super) fn photo_value(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    match t.users.get(&id).and_then(|u| u.photo.as_ref()) {
        None => image_not_found(),
        Some(p) => GResp {
            status: 200,
            headers: vec![("ETag".into(), p.etag.clone())],
            body: GBody::Bytes {
                content_type: p.content_type.clone(),
                data: p.bytes.clone(),
            },
        },
    }
}

pub(super) fn photo_put(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_PHOTO) {
        return GResp::forbidden();
    }
    let ct = req
        .header("content-type")
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if ct != "image/jpeg" {
        return GResp::error(
            400,
            "ErrorInvalidRequest",
            format!("The photo content type '{ct}' is not supported; use image/jpeg."),
        );
    }
    if req.body.is_empty() {
        return GResp::error(400, "ErrorInvalidRequest", "The photo is empty.");
    }
    if req.body.len() > MAX_PHOTO {
        return GResp::error(
            400,
            "ErrorInvalidRequest",
            format!(
                "The photo is {} bytes; the largest photo Graph accepts is 4 MB.",
                req.body.len()
            ),
        );
    }
    let cooldown = call.dynamic.photo_cooldown_secs as f64;
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    if let Some(u) = t.users.get(&id) {
        if u.s("userType") == Some("Guest") && call.now - u.created_at < cooldown {
            // Real Graph answers this while the guest's profile store is not
            // provisioned yet; see docs/simulator.md.
            return GResp::error(
                404,
                "ResourceNotFound",
                format!("The profile of user '{id}' is not ready for a photo yet; retry later (new guests cannot take a photo during the first minutes)."),
            );
        }
    }
    let tid = t.id;
    match w.set_photo(tid, id, req.body.clone(), &ct) {
        Ok(()) => {
            w.counts.applied("photo_put", id);
            GResp::empty(200)
        }
        Err(_) => GResp::not_found(key),
    }
}

pub(super) fn photo_delete(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let tid = t.id;
    match w.remove_photo(tid, id) {
        Ok(true) => {
            w.counts.applied("photo_delete", id);
            GResp::empty(204)
        }
        Ok(false) => image_not_found(),
        Err(_) => GResp::not_found(key),
    }
}
