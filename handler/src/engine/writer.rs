//! The host writers: [`HostWriter`] is every write (and the one lookup)
//! the executor makes in the host tenant; [`GraphWriter`] makes them
//! through the Graph client, [`DryRunWriter`] only pretends.
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::domain::{AnchorAttribute, Guid};
use crate::graph::{GraphError, GraphUser, InviteRequest, TenantGraph};

/// The writes the engine makes in the host tenant. [`GraphWriter`] makes
/// them; [`DryRunWriter`] only pretends.
#[async_trait]
pub trait HostWriter: Send + Sync {
    /// The audit outcome of a write this writer accepted: `ok` or `dry-run`.
    fn outcome_label(&self) -> &'static str;
    /// Whether guest records and tenant state may be stored (false in dry run).
    fn persists(&self) -> bool;
    /// Invites without an e-mail; returns the guest's object id.
    async fn invite(&self, req: &InviteRequest) -> Result<Guid, GraphError>;
    /// `PATCH /users/{id}` with exactly these properties.
    async fn patch_user(&self, id: Guid, patch: &Map<String, Value>) -> Result<(), GraphError>;
    /// Soft delete; an already deleted user is success.
    async fn delete_user(&self, id: Guid) -> Result<(), GraphError>;
    /// Restores a soft-deleted user from deleted items.
    async fn restore_user(&self, id: Guid) -> Result<(), GraphError>;
    /// Already a member is success.
    async fn add_group_member(&self, group: Guid, id: Guid) -> Result<(), GraphError>;
    /// Sets the guest's photo.
    async fn put_photo(&self, id: Guid, bytes: Bytes, content_type: &str)
        -> Result<(), GraphError>;
    /// No photo is success.
    async fn delete_photo(&self, id: Guid) -> Result<(), GraphError>;
    /// `PUT /users/{id}/manager/$ref`.
    async fn set_manager(&self, id: Guid, manager: Guid) -> Result<(), GraphError>;
    /// `DELETE /users/{id}/manager/$ref`; no manager is success.
    async fn remove_manager(&self, id: Guid) -> Result<(), GraphError>;
    /// `POST /users/{id}/sponsors/$ref`; already a sponsor is success.
    async fn add_sponsor(&self, id: Guid, sponsor: Guid) -> Result<(), GraphError>;
    /// `DELETE /users/{id}/sponsors/{sponsor}/$ref`; not a sponsor is success.
    async fn remove_sponsor(&self, id: Guid, sponsor: Guid) -> Result<(), GraphError>;
    /// The host users that own `address` (Microsoft's invitation pre-check:
    /// UPN, mail, proxyAddresses, otherMails; every user type). A read: a
    /// dry run answers nobody.
    /// `anchor` is selected too, so the caller can tell whose guest it is.
    async fn users_with_address(
        &self,
        address: &str,
        anchor: Option<&AnchorAttribute>,
    ) -> Result<Vec<GraphUser>, GraphError>;
}

/// Writes through the Graph client into the host tenant.
#[derive(Debug, Clone)]
pub struct GraphWriter(pub TenantGraph);

#[async_trait]
impl HostWriter for GraphWriter {
    fn outcome_label(&self) -> &'static str {
        "ok"
    }
    fn persists(&self) -> bool {
        true
    }
    async fn invite(&self, req: &InviteRequest) -> Result<Guid, GraphError> {
        self.0.invite(req).await.map(|i| i.user_id)
    }
    async fn patch_user(&self, id: Guid, patch: &Map<String, Value>) -> Result<(), GraphError> {
        self.0.patch_user(id, patch).await
    }
    async fn delete_user(&self, id: Guid) -> Result<(), GraphError> {
        match self.0.delete_user(id).await {
            Ok(()) | Err(GraphError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
    async fn restore_user(&self, id: Guid) -> Result<(), GraphError> {
        self.0.restore_deleted_user(id).await
    }
    async fn users_with_address(
        &self,
        address: &str,
        anchor: Option<&AnchorAttribute>,
    ) -> Result<Vec<GraphUser>, GraphError> {
        let mut select = super::ownership::EXISTING_SELECT.to_vec();
        if let Some(a) = anchor {
            select.push(a.select_name());
        }
        self.0.find_users_by_address(address, &select).await
    }
    async fn add_group_member(&self, group: Guid, id: Guid) -> Result<(), GraphError> {
        self.0.add_group_member(group, id).await
    }
    async fn put_photo(
        &self,
        id: Guid,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), GraphError> {
        self.0.put_photo(id, bytes, content_type).await
    }
    async fn delete_photo(&self, id: Guid) -> Result<(), GraphError> {
        self.0.delete_photo(id).await
    }
    async fn set_manager(&self, id: Guid, manager: Guid) -> Result<(), GraphError> {
        self.0.set_manager(id, manager).await
    }
    async fn remove_manager(&self, id: Guid) -> Result<(), GraphError> {
        self.0.remove_manager(id).await
    }
    async fn add_sponsor(&self, id: Guid, sponsor: Guid) -> Result<(), GraphError> {
        self.0.add_sponsor(id, sponsor).await
    }
    async fn remove_sponsor(&self, id: Guid, sponsor: Guid) -> Result<(), GraphError> {
        self.0.remove_sponsor(id, sponsor).await
    }
}

/// Dry run: every write "succeeds" without reaching Graph.
#[derive(Debug, Clone, Copy, Default)]
pub struct DryRunWriter;

#[async_trait]
impl HostWriter for DryRunWriter {
    fn outcome_label(&self) -> &'static str {
        "dry-run"
    }
    fn persists(&self) -> bool {
        false
    }
    async fn invite(&self, _req: &InviteRequest) -> Result<Guid, GraphError> {
        Ok(Guid::from_uuid(uuid::Uuid::nil()))
    }
    async fn users_with_address(
        &self,
        _: &str,
        _: Option<&AnchorAttribute>,
    ) -> Result<Vec<GraphUser>, GraphError> {
        Ok(Vec::new())
    }
    async fn patch_user(&self, _: Guid, _: &Map<String, Value>) -> Result<(), GraphError> {
        Ok(())
    }
    async fn delete_user(&self, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn restore_user(&self, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn add_group_member(&self, _: Guid, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn put_photo(&self, _: Guid, _: Bytes, _: &str) -> Result<(), GraphError> {
        Ok(())
    }
    async fn delete_photo(&self, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn set_manager(&self, _: Guid, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn remove_manager(&self, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn add_sponsor(&self, _: Guid, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
    async fn remove_sponsor(&self, _: Guid, _: Guid) -> Result<(), GraphError> {
        Ok(())
    }
}
