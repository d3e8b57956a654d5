//! The simulator's optional https listener ([`super::Sim::serve_tls`]): the
//! same routes as the plain listener, with a leaf certificate for
//! `127.0.0.1` and `localhost` signed by a CA made at start and thrown
//! away with the process ([`crate::devtools::tls`]). Clients trust that CA
//! (its PEM is [`super::Sim::tls_ca_pem`]; `guest-sync sim serve --tls`
//! writes it to a file for `GUESTSYNC_TLS_CA_FILE`). Development only:
//! Microsoft's `azure_identity` credentials insist on an https authority,
//! so the secretless sign-in is exercised over https.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::Inner;
use crate::devtools::tls::{ThrowawayCa, TlsListener};

/// A running https listener.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    pub url: url::Url,
    pub ca_pem: String,
}

/// Makes the CA and leaf, binds 127.0.0.1 on an OS-chosen port and serves.
pub(crate) async fn serve(inner: Arc<Inner>) -> std::io::Result<TlsInfo> {
    let ca = ThrowawayCa::new("guest-sync simulator CA", &["127.0.0.1", "localhost"])?;
    let tcp = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = tcp.local_addr()?.port();
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}"))
        .map_err(|e| std::io::Error::other(format!("simulator TLS: listen URL: {e}")))?;
    let listener = TlsListener::new(tcp, ca.server.clone());
    let app = super::http::router(inner);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "simulator https listener stopped");
        }
    });
    tracing::info!(port, "graph simulator listening (https)");
    Ok(TlsInfo {
        url,
        ca_pem: ca.ca_pem,
    })
}
