//! TLS client settings for https outputs and SMTP TLS: Mozilla's roots
//! (compiled in) plus, optionally, a private CA from the output's `ca_file`
//! (an internal webhook receiver or mail relay). rustls with the ring
//! provider, chosen explicitly so it does not depend on which providers the
//! final binary enables.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, ServerName},
};
use tokio_rustls::TlsConnector;

use crate::error::DeliveryError;

/// A TLS client configuration shared by every connection of one output.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    extra_roots: usize,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TlsClient")
            .field("extra_roots", &self.extra_roots)
            .finish()
    }
}

impl Default for TlsClient {
    /// Mozilla's roots only (built once per process).
    fn default() -> Self {
        static DEFAULT: OnceLock<TlsClient> = OnceLock::new();
        DEFAULT
            .get_or_init(|| TlsClient::build(&[]).expect("Mozilla's roots are valid"))
            .clone()
    }
}

impl TlsClient {
    /// Mozilla's roots plus every certificate in a PEM file; the error says what is wrong with the file.
    pub fn with_ca_file(path: &Path) -> Result<TlsClient, String> {
        let pem = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|error| format!("{}: not a PEM certificate file: {error}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        TlsClient::build(&certificates).map_err(|error| format!("{}: {error}", path.display()))
    }

    fn build(extra_roots: &[CertificateDer<'static>]) -> Result<TlsClient, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for certificate in extra_roots {
            roots
                .add(certificate.clone())
                .map_err(|error| format!("certificate rejected: {error}"))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            extra_roots: extra_roots.len(),
        })
    }

    pub(crate) fn connector(&self) -> &TlsConnector {
        &self.connector
    }
}

/// The name the server's certificate must carry (a DNS name or an IP address).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, DeliveryError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| DeliveryError::Permanent(format!("{host:?} is not a valid TLS server name")))
}
