//! The simulator's optional https listener ([`super::Sim::serve_tls`]): the
//! same routes as the plain listener, with a leaf certificate for
//! `127.0.0.1` and `localhost` signed by a CA made at start and thrown
//! away with the process. Clients trust that CA (its PEM is
//! [`super::Sim::tls_ca_pem`]; `guest-sync sim serve --tls` writes it to a
//! file for `GUESTSYNC_TLS_CA_FILE`). Development only: Microsoft's
//! `azure_identity` credentials insist on an https authority, so the
//! secretless sign-in is exercised over https.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::Inner;

/// A running https listener.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    pub url: url::Url,
    pub ca_pem: String,
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, a)) = self.tcp.accept().await else {
                continue;
            };
            // A client that never finishes its handshake does not hold the
            // listener for long.
            let hs = tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(s));
            if let Ok(Ok(tls)) = hs.await {
                return (tls, a);
            }
        }
    }
    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn io_err(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("simulator TLS: {what}: {e}"))
}

/// Makes the CA and leaf, binds 127.0.0.1 on an OS-chosen port and serves.
pub(crate) async fn serve(inner: Arc<Inner>) -> std::io::Result<TlsInfo> {
    let ca_key = rcgen::KeyPair::generate().map_err(|e| io_err("CA key", e))?;
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| io_err("CA", e))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "guest-sync simulator CA");
    let ca = ca_params
        .self_signed(&ca_key)
        .map_err(|e| io_err("CA certificate", e))?;
    let leaf_key = rcgen::KeyPair::generate().map_err(|e| io_err("leaf key", e))?;
    let leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .map_err(|e| io_err("leaf", e))?
            .signed_by(&leaf_key, &ca, &ca_key)
            .map_err(|e| io_err("leaf certificate", e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io_err("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .map_err(|e| io_err("server certificate", e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = tcp.local_addr()?.port();
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}"))
        .map_err(|e| io_err("listen URL", e))?;
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(cfg)),
    };
    let app = super::http::router(inner);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "simulator https listener stopped");
        }
    });
    tracing::info!(port, "graph simulator listening (https)");
    Ok(TlsInfo {
        url,
        ca_pem: ca.pem(),
    })
}
