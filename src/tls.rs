//! Transport security with rustls: the server's certificate and (optionally) the CA its
//! partners' client certificates are checked against, the fingerprints a partner's client
//! certificate is matched by, and the trust (CA bundle, client certificate) of the gateway's
//! own connections to a partner.
//!
//! The files are read and checked when the configuration is loaded (`check-config` reports a
//! bad one by its key); what is kept is ready-made rustls configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take over the TLS handshake before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most TLS handshakes in progress at once; further connections wait in the kernel's
/// backlog until one finishes or times out.
const MAX_HANDSHAKES: usize = 1024;

/// The crypto the gateway uses (ring), for every rustls configuration it builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------------------------------
// Certificate fingerprints

/// The SHA-256 of a certificate's DER encoding, configured as `sha256:<64 hex digits>` (the
/// colon-separated form `openssl x509 -fingerprint -sha256` prints is accepted too).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CertFingerprint(pub [u8; 32]);

/// Why a configured fingerprint is not one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "must be \"sha256:\" followed by the certificate's SHA-256 in 64 hex digits (colons allowed), \
     e.g. from `openssl x509 -noout -fingerprint -sha256 -in partner.pem`"
)]
pub struct BadFingerprint;

impl CertFingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses `sha256:<hex>`, either case, with or without colons between the bytes.
    pub fn parse(s: &str) -> Result<Self, BadFingerprint> {
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("sha256:"))
            .map(|_| &s[7..])
            .ok_or(BadFingerprint)?;
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 {
            return Err(BadFingerprint);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| BadFingerprint)?;
        Ok(Self(out))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &CertFingerprint) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

// ---------------------------------------------------------------------------------------
// Reading PEM files

/// A certificate or key file that cannot be used: the problem, without the file's content.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct TlsFileError(pub String);

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let text = std::fs::read(path)
        .map_err(|e| TlsFileError(format!("cannot read {}: {e}", path.display())))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsFileError(format!("{} is not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsFileError(format!(
            "{} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let text = std::fs::read(path)
        .map_err(|e| TlsFileError(format!("cannot read {}: {e}", path.display())))?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        TlsFileError(format!(
            "{} holds no private key (expected a PEM PKCS#8, PKCS#1 or SEC1 key)",
            path.display()
        ))
    })
}

fn roots(path: &Path) -> Result<RootCertStore, TlsFileError> {
    let mut store = RootCertStore::empty();
    for cert in read_certs(path)? {
        store.add(cert).map_err(|e| {
            TlsFileError(format!(
                "{} holds a certificate that is not a usable CA: {e}",
                path.display()
            ))
        })?;
    }
    Ok(store)
}

// ---------------------------------------------------------------------------------------
// The server

/// `[server.tls]`, loaded: the rustls configuration the listener uses.
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    /// Whether client certificates are asked for (and verified against `client_ca`).
    pub client_ca: bool,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("client_ca", &self.client_ca)
            .finish_non_exhaustive()
    }
}

/// Which `[server.tls]` key a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTlsKey {
    Cert,
    Key,
    ClientCa,
}

impl ServerTlsKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cert => "server.tls.cert",
            Self::Key => "server.tls.key",
            Self::ClientCa => "server.tls.client_ca",
        }
    }
}

/// Builds the server's TLS configuration from its certificate chain and key, and, with
/// `client_ca`, asks every client for a certificate and verifies one that is presented against
/// that CA (a client without one is still served: whether it needs one is decided per partner,
/// see [`crate::api::client_cert`]).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerTls, Vec<(ServerTlsKey, TlsFileError)>> {
    let mut problems = Vec::new();
    let chain = read_certs(cert).map_err(|e| problems.push((ServerTlsKey::Cert, e)));
    let private = read_key(key).map_err(|e| problems.push((ServerTlsKey::Key, e)));
    let verifier = client_ca.map(|ca| {
        roots(ca)
            .and_then(|roots| {
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsFileError(format!("cannot verify clients with it: {e}")))
            })
            .map_err(|e| problems.push((ServerTlsKey::ClientCa, e)))
    });
    let (Ok(chain), Ok(private)) = (chain, private) else {
        return Err(problems);
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![(ServerTlsKey::Cert, TlsFileError(e.to_string()))])?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(Ok(v)) => builder.with_client_cert_verifier(v),
        Some(Err(())) => return Err(problems),
    };
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        vec![(
            ServerTlsKey::Key,
            TlsFileError(format!(
                "does not fit the certificate in server.tls.cert: {e}"
            )),
        )]
    })?;
    // The server speaks HTTP/1.1 (axum without its http2 feature): offer only that.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        client_ca: client_ca.is_some(),
    })
}

/// Who is on the other end of a TLS connection: its address and, if it presented a client
/// certificate that verified against `server.tls.client_ca`, that certificate's fingerprint.
/// Every request on the connection carries it as `ConnectInfo<TlsPeer>`.
#[derive(Debug, Clone, Copy)]
pub struct TlsPeer {
    pub addr: SocketAddr,
    pub client_cert: Option<CertFingerprint>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        *stream.remote_addr()
    }
}

/// A TCP listener that hands out connections once their TLS handshake is done. Handshakes run
/// in their own tasks (at most `MAX_HANDSHAKES` at once, each within
/// [`HANDSHAKE_TIMEOUT`]), so a slow or silent client holds up nobody else.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: &ServerTls) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(tls.config.clone());
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(tcp, acceptor, tx));
        Ok(Self {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, TlsPeer)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = match tcp.accept().await {
            Ok(s) => s,
            Err(e) => {
                // As axum's own listener: out of file descriptors and the like pass.
                tracing::debug!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let client_cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(<[_]>::first)
                        .map(|leaf| CertFingerprint::of(leaf.as_ref()));
                    let _ = ready.send((tls, TlsPeer { addr, client_cert })).await;
                }
                // The reason (no shared protocol, an untrusted client certificate, ...) is
                // rustls's; nothing from the connection's content.
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The accept loop only ends with the listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            addr: self.local,
            client_cert: None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Outbound: the gateway's connections to a partner

/// Which `[delivery.tls]` key a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundTlsKey {
    Ca,
    ClientCert,
    ClientKey,
}

impl OutboundTlsKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ca => "delivery.tls.ca",
            Self::ClientCert => "delivery.tls.client_cert",
            Self::ClientKey => "delivery.tls.client_key",
        }
    }
}

/// A partner's `[delivery.tls]`, loaded: the client configuration of the gateway's
/// connections to it.
#[derive(Clone)]
pub struct OutboundTls {
    pub config: Arc<ClientConfig>,
}

impl fmt::Debug for OutboundTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundTls")
            .field(
                "client_cert",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

/// Builds the client configuration for one partner: trust only the CA(s) in `ca` (or, without
/// it, the public web roots), and present the client certificate `client_cert` with
/// `client_key` if both are given.
pub fn outbound_config(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<OutboundTls, Vec<(OutboundTlsKey, TlsFileError)>> {
    let mut problems = Vec::new();
    let roots = match ca {
        Some(ca) => roots(ca).map_err(|e| problems.push((OutboundTlsKey::Ca, e))),
        None => Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
    };
    let identity = client.map(|(cert, key)| {
        let chain = read_certs(cert).map_err(|e| problems.push((OutboundTlsKey::ClientCert, e)));
        let key = read_key(key).map_err(|e| problems.push((OutboundTlsKey::ClientKey, e)));
        (chain, key)
    });
    let Ok(roots) = roots else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![(OutboundTlsKey::Ca, TlsFileError(e.to_string()))])?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((Ok(chain), Ok(key))) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            vec![(
                OutboundTlsKey::ClientKey,
                TlsFileError(format!(
                    "does not fit the certificate in delivery.tls.client_cert: {e}"
                )),
            )]
        })?,
        Some(_) => return Err(problems),
    };
    Ok(OutboundTls {
        config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_parses_in_both_notations_and_prints_in_one() {
        let fp = CertFingerprint::of(b"certificate");
        let plain = fp.to_string();
        assert!(plain.starts_with("sha256:"));
        assert_eq!(CertFingerprint::parse(&plain), Ok(fp));
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            CertFingerprint::parse(&format!("SHA256:{}", colons.join(":"))),
            Ok(fp)
        );
    }

    #[test]
    fn a_malformed_fingerprint_is_refused() {
        for bad in [
            "",
            "sha256:",
            "sha1:00",
            "sha256:abc",
            &format!("sha256:{}", "z".repeat(64)),
            &format!("sha256:{}", "0".repeat(62)),
            &"0".repeat(64),
            "sha256é",
        ] {
            assert_eq!(CertFingerprint::parse(bad), Err(BadFingerprint), "{bad}");
        }
    }

    #[test]
    fn missing_files_are_reported_by_key() {
        let nowhere = Path::new("/nonexistent/wijkbrug");
        let problems = server_config(nowhere, nowhere, Some(nowhere)).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.name()).collect();
        assert_eq!(
            keys,
            ["server.tls.cert", "server.tls.key", "server.tls.client_ca"]
        );
        let problems = outbound_config(Some(nowhere), Some((nowhere, nowhere))).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.name()).collect();
        assert_eq!(
            keys,
            [
                "delivery.tls.ca",
                "delivery.tls.client_cert",
                "delivery.tls.client_key"
            ]
        );
    }
}
