//! Throw-away TLS for local servers: a CA made at start and a leaf for the
//! names a server answers to ([`ThrowawayCa`]), and an axum listener that
//! completes the TLS handshake ([`TlsListener`]). Development only: the
//! simulator's https listener ([`super::sim::Sim::serve_tls`]) and the tests'
//! fake Key Vault use it, because Microsoft's `azure_identity` and Key Vault
//! crates insist on https.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A CA and a server configuration with a leaf it signed.
pub struct ThrowawayCa {
    /// The CA certificate, PEM (for clients to trust).
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// A rustls server configuration (HTTP/1.1) presenting the leaf.
    pub server: Arc<rustls::ServerConfig>,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("throw-away TLS: {what}: {e}"))
}

impl ThrowawayCa {
    /// A CA named `ca_name` and a leaf for `names` (host names or IP
    /// addresses).
    pub fn new(ca_name: &str, names: &[&str]) -> std::io::Result<ThrowawayCa> {
        let ca_key = rcgen::KeyPair::generate().map_err(|e| io_err("CA key", e))?;
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| io_err("CA", e))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let ca = ca_params
            .self_signed(&ca_key)
            .map_err(|e| io_err("CA certificate", e))?;
        let leaf_key = rcgen::KeyPair::generate().map_err(|e| io_err("leaf key", e))?;
        let leaf =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
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
        Ok(ThrowawayCa {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            server: Arc::new(cfg),
        })
    }
}

/// An axum listener over TLS: accepts TCP, completes the handshake (a
/// client that never finishes it is dropped after 10 s).
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, server: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(server),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((s, a)) = self.tcp.accept().await else {
                continue;
            };
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
