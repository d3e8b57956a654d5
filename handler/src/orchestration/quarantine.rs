//! Nothing dropped: a queue message that is no work item (bad JSON, a
//! missing field, a stranger's message on our queue) is not answered 200
//! and forgotten. It goes, with the reason, to `guestsync-quarantine`
//! through the function's `quarantine` output binding, is recorded in the
//! audit (operation `quarantine`: ids and the reason, never the text),
//! and shows in the report's attention list (`quarantinedMessages`).
use chrono::Utc;
use serde_json::{json, Value};

use crate::app::App;
use crate::domain::{AuditEntry, Guid};
use crate::events;
use crate::protocol::{FunctionName, FunctionOutput, InvokeError, QueueMessage};
use crate::report::QUARANTINE_OPERATION;

/// Quarantines `msg`, which `function` could not read as a work item
/// (`error`, from `QueueMessage::work_item`). A store failure is
/// transient: the host redelivers the message and nothing is lost.
pub async fn quarantine(
    app: &App,
    function: FunctionName,
    msg: &QueueMessage,
    error: InvokeError,
) -> Result<FunctionOutput, InvokeError> {
    let reason = match error {
        InvokeError::BadInput(r) => r,
        other => other.to_string(),
    };
    let now = Utc::now();
    // The tenant the message names, if it names one (for the audit's key).
    let tenant = msg
        .body
        .get("sourceTenantId")
        .and_then(Value::as_str)
        .and_then(|s| Guid::parse_named(s, "tenant").ok())
        .unwrap_or_else(|| Guid::from_uuid(uuid::Uuid::nil()));
    let message_id = msg.id.clone().unwrap_or_default();
    let entry = AuditEntry {
        at: now,
        run_id: uuid::Uuid::new_v4(),
        source_tenant_id: tenant,
        source_user_id: None,
        target_id: None,
        target_upn: None,
        operation: QUARANTINE_OPERATION.into(),
        outcome: "failed".into(),
        detail: Some(format!(
            "{function}: message {message_id} ({} bytes, delivery {}) is no work item: {reason}; kept on guestsync-quarantine",
            msg.raw.len(),
            msg.dequeue_count.max(1)
        )),
        client_request_id: None,
    };
    app.store.append_audit(&[entry]).await.map_err(|e| {
        InvokeError::Transient(format!("cannot record the quarantined message: {e}"))
    })?;
    tracing::error!(
        // The poison alert's event: a quarantined message needs a look too.
        event = events::WORK_ITEM_PARKED,
        quarantined = true,
        function = %function,
        message_id = %message_id,
        dequeue_count = msg.dequeue_count,
        "a queue message is no work item; kept on guestsync-quarantine: {reason}"
    );
    Ok(FunctionOutput {
        quarantine: vec![json!({
            "reason": reason,
            "function": function.to_string(),
            "messageId": message_id,
            "dequeueCount": msg.dequeue_count,
            "quarantinedAt": now,
            "message": msg.raw,
        })],
        logs: vec![format!(
            "message {message_id} is no work item ({reason}); kept on guestsync-quarantine"
        )],
        ..Default::default()
    })
}
