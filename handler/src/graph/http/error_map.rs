//! Graph's error answers: the `{"error":{"code","message"}}` body, the
//! permission a refusal names, an invitation refused by the tenant's
//! settings, and the mapping of a non-2xx answer that is not retried to a
//! [`GraphError`].
use serde_json::Value;

use super::Operation;
use crate::graph::error::{scrub_addresses, AadstsCode, ErrorContext, GraphError};
use crate::graph::federated::CredentialIds;

/// Graph's `{"error":{"code","message"}}`, when present.
pub(crate) fn parse_graph_error(body: &[u8]) -> (Option<String>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = v.get("error");
    // A code is an identifier; one holding an address is scrubbed too.
    let code = e
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(scrub_addresses);
    let msg = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    (code, scrub_addresses(msg))
}

/// A permission named in Graph's message (`User.Invite.All`, ...).
pub(crate) fn named_permission(message: &str) -> Option<String> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() >= 2
                && parts.last().is_some_and(|l| *l == "All")
                && parts
                    .iter()
                    .all(|p| p.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        })
        .map(str::to_string)
}

/// Graph's refusal of an invitation because of the tenant's guest invite
/// settings (as opposed to a missing permission).
pub(crate) fn looks_like_invitation_restriction(code: Option<&str>, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let code_says = code.is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.contains("invit") && (c.contains("restrict") || c.contains("notallowed"))
    });
    code_says
        || (m.contains("invit")
            && (m.contains("not allowed")
                || m.contains("restrict")
                || m.contains("admin")
                || m.contains("disabled")))
}

/// Maps a non-2xx answer that is not retried (Graph's error body is
/// decoded tolerantly: anything that is not `{"error":{...}}` is no code).
pub fn map_error(
    op: Operation,
    status: u16,
    body: &[u8],
    what: &str,
    request_id: uuid::Uuid,
    creds: &(impl CredentialIds + ?Sized),
) -> GraphError {
    let (code, message) = parse_graph_error(body);
    let ctx = ErrorContext {
        operation: op.name(),
        status: Some(status),
        client_request_id: request_id,
        graph_code: code.clone(),
    };
    let detail = match &code {
        Some(c) if !message.is_empty() => format!("{c}: {message}"),
        Some(c) => c.clone(),
        None if !message.is_empty() => message.clone(),
        None => format!("HTTP {status}"),
    };
    match status {
        401 => GraphError::Auth {
            code: AadstsCode::Unknown,
            message: format!(
                "{} (Graph said: {detail})",
                AadstsCode::Unknown.admin_message(creds.tenant_id(), creds.client_id())
            ),
            detail,
            ctx,
        },
        403 if op == Operation::Invite
            && looks_like_invitation_restriction(code.as_deref(), &message) =>
        {
            GraphError::InvitationsRestricted { detail, ctx }
        }
        403 => GraphError::Forbidden {
            missing_permission: named_permission(&message)
                .or_else(|| op.permission().map(str::to_string)),
            detail,
            ctx,
        },
        404 | 410 => GraphError::NotFound {
            what: what.to_string(),
            ctx,
        },
        429 => GraphError::Throttled {
            retry_after: std::time::Duration::ZERO,
            ctx,
        },
        s if s >= 500 => GraphError::Transient { detail, ctx },
        // Redirects are never followed (the bearer token would go along).
        300..=399 => GraphError::Permanent {
            detail: format!(
                "Graph answered a redirect (HTTP {status}); the token is never sent after a redirect: check GUESTSYNC_GRAPH_URL"
            ),
            ctx,
        },
        _ => GraphError::Permanent { detail, ctx },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Guid;

    /// Permissions named in Graph's messages are found.
    #[test]
    fn permissions_named_in_messages_are_found() {
        assert_eq!(
            named_permission("Missing role permissions on the request. API requires one of 'User.Invite.All, User.ReadWrite.All'."),
            Some("User.Invite.All".to_string())
        );
        assert_eq!(
            named_permission("Insufficient privileges to complete the operation."),
            None
        );
    }

    /// A 403 on an invitation is "restricted" only when Graph talks about
    /// invitations being disallowed; otherwise it names User.Invite.All.
    #[test]
    fn invitation_403s_are_told_apart() {
        let creds = crate::graph::AppCredentials {
            tenant_id: Guid::new_v4(),
            client_id: Guid::new_v4(),
            secret: crate::secrets::SecretString::new("x"),
        };
        let restricted = br#"{"error":{"code":"Authorization_RequestDenied","message":"Guest invitations not allowed for your company. Contact your company administrator for more details."}}"#;
        let e = map_error(
            Operation::Invite,
            403,
            restricted,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        assert!(matches!(e, GraphError::InvitationsRestricted { .. }), "{e}");
        let denied = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        let e = map_error(
            Operation::Invite,
            403,
            denied,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        match e {
            GraphError::Forbidden {
                missing_permission, ..
            } => assert_eq!(missing_permission.as_deref(), Some("User.Invite.All")),
            other => panic!("{other}"),
        }
        let e = map_error(
            Operation::ReadGroupMembers,
            403,
            denied,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        assert!(e.to_string().contains("GroupMember.Read.All"), "{e}");
    }

    /// An address in Graph's error code is scrubbed like one in the
    /// message (found by the reliability fuzzing).
    #[test]
    fn addresses_in_error_codes_are_scrubbed() {
        let (code, msg) =
            parse_graph_error(br#"{"error":{"code":"x mail@contoso.example","message":"a@b.c"}}"#);
        assert_eq!(code.as_deref(), Some("x [address]"));
        assert_eq!(msg, "[address]");
    }
}
