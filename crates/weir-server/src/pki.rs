//! The collector's identity on disk: data directory (0700), local CA and
//! server certificate for the gRPC listener, the collector's ed25519 signing
//! key (checkpoints), and the admin API token. Created on first start,
//! reused on every later start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::RngCore;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::error::ServerError;

/// Everything the collector loads from DATA at start.
pub struct Identity {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub collector_key: SigningKey,
    pub admin_token: String,
    pub admin_token_path: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) with mode 0700, or tightens an existing one.
pub fn private_dir(dir: &Path) -> Result<(), ServerError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

/// Writes a file readable only by its owner: a temporary file, synced, then
/// renamed over `path`, so `path` never exists half-written.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    fs::read(path).map_err(io_err(path))
}

fn read_string(path: &Path) -> Result<String, ServerError> {
    String::from_utf8(read(path)?).map_err(|_| ServerError::Corrupt {
        path: path.to_path_buf(),
        detail: "not UTF-8".into(),
    })
}

/// The host name of this machine, from the kernel.
pub fn local_host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Loads DATA's identity, creating whatever is missing.
pub fn load_or_create(data_dir: &Path) -> Result<Identity, ServerError> {
    private_dir(data_dir)?;
    let keys = data_dir.join("keys");
    let tls = data_dir.join("tls");
    private_dir(&keys)?;
    private_dir(&tls)?;

    let collector_key = load_or_create_signing_key(&keys)?;
    let (ca_pem, server_cert_pem, server_key_pem) = load_or_create_tls(&tls)?;

    let admin_token_path = data_dir.join("admin.token");
    if !admin_token_path.exists() {
        write_private(
            &admin_token_path,
            format!("{}\n", random_token("weir-admin-")).as_bytes(),
        )?;
    }
    let admin_token = read_token(&admin_token_path, "admin token")?;
    Ok(Identity {
        ca_pem,
        server_cert_pem,
        server_key_pem,
        collector_key,
        admin_token,
        admin_token_path,
    })
}

/// Reads a secret token file (`what` names it in errors): the trimmed text,
/// refused as corrupt when shorter than 32 characters.
pub(crate) fn read_token(path: &Path, what: &str) -> Result<String, ServerError> {
    let token = read_string(path)?.trim().to_string();
    if token.len() < 32 {
        return Err(ServerError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{what} shorter than 32 characters"),
        });
    }
    Ok(token)
}

/// A random secret with a readable prefix: prefix + 64 hex characters.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

fn load_or_create_signing_key(keys: &Path) -> Result<SigningKey, ServerError> {
    let secret_path = keys.join("collector.key");
    let public_path = keys.join("collector.pub");
    if !secret_path.exists() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_private(&secret_path, &key.to_bytes())?;
    }
    let bytes = read(&secret_path)?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| ServerError::Corrupt {
        path: secret_path.clone(),
        detail: format!("expected 32 bytes, found {}", bytes.len()),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    if read(&public_path).ok().as_deref() != Some(&public[..]) {
        let _ = fs::remove_file(&public_path);
        write_private(&public_path, &public)?;
    }
    Ok(key)
}

fn tls_err(e: rcgen::Error) -> ServerError {
    ServerError::Tls(e.to_string())
}

fn load_or_create_tls(tls: &Path) -> Result<(String, String, String), ServerError> {
    let ca_cert = tls.join("ca.pem");
    let ca_key = tls.join("ca.key");
    let server_cert = tls.join("server.pem");
    let server_key = tls.join("server.key");
    if !(ca_cert.exists() && ca_key.exists() && server_cert.exists() && server_key.exists()) {
        let ca_keypair = KeyPair::generate().map_err(tls_err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Weir local collector CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2049, 1, 1);
        let ca = ca_params.self_signed(&ca_keypair).map_err(tls_err)?;

        let mut names = vec!["127.0.0.1".to_string(), "::1".to_string(), "localhost".to_string()];
        let host = local_host_name();
        if !host.is_empty() && host != "localhost" {
            names.push(host);
        }
        let server_keypair = KeyPair::generate().map_err(tls_err)?;
        let mut params = CertificateParams::new(names).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, "weir collector");
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 1, 1);
        let issuer = Issuer::new(ca_params, &ca_keypair);
        let cert = params.signed_by(&server_keypair, &issuer).map_err(tls_err)?;

        for path in [&ca_cert, &ca_key, &server_cert, &server_key] {
            let _ = fs::remove_file(path);
        }
        write_private(&ca_key, ca_keypair.serialize_pem().as_bytes())?;
        write_private(&server_key, server_keypair.serialize_pem().as_bytes())?;
        write_private(&server_cert, cert.pem().as_bytes())?;
        write_private(&ca_cert, ca.pem().as_bytes())?;
    }
    Ok((
        read_string(&ca_cert)?,
        read_string(&server_cert)?,
        read_string(&server_key)?,
    ))
}
