//! A small HTTP/1.1 POST client over hyper (plain http or https with rustls and
//! Mozilla's roots), one request per connection, with a bounded response body
//! (the caller bounds the time). Alert rates do not need pooling.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::DeliveryError;
use crate::tls::{server_name, TlsClient};

/// Response bodies past this are cut (only error messages are read from them).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpTarget {
    /// Parses a URL; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("{url:?} does not start with http:// or https://"));
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} contains spaces or control characters"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(position) if rest[position..].starts_with('?') => {
                (&rest[..position], format!("/{}", &rest[position..]))
            }
            Some(position) => (&rest[..position], rest[position..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!("{url:?}: credentials in the URL are not supported"));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => parse_port(url, port)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("{url:?}: unexpected text after ']'")),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), parse_port(url, port)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(HttpTarget {
            https,
            host,
            port,
            path,
        })
    }

    /// `Host` header value.
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.https { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn parse_port(url: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("{url:?}: {port:?} is not a port")),
    }
}

/// Status and (possibly cut) body of a response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
    /// `Retry-After` in delta-seconds, capped at an hour (HTTP dates are ignored).
    pub retry_after: Option<Duration>,
}

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// POSTs `body` to `url` with the given extra headers (the caller bounds the time it may take).
/// Connection problems are transient; the status is returned as is.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    tls: &TlsClient,
) -> Result<HttpResponse, DeliveryError> {
    let target = HttpTarget::parse(url).map_err(DeliveryError::Permanent)?;
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|error| DeliveryError::Transient(format!("connect {}:{}: {error}", target.host, target.port)))?;
    let _ = stream.set_nodelay(true);
    let mut request = hyper::Request::post(&target.path)
        .header(hyper::header::HOST, target.host_header())
        .header(hyper::header::USER_AGENT, concat!("weir/", env!("CARGO_PKG_VERSION")))
        .header(hyper::header::CONTENT_LENGTH, body.len());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| DeliveryError::Permanent(format!("building request: {error}")))?;
    if target.https {
        let tls = tls
            .connector()
            .connect(server_name(&target.host)?, stream)
            .await
            .map_err(|error| DeliveryError::Transient(format!("TLS with {}: {error}", target.host)))?;
        exchange(tls, request).await
    } else {
        exchange(stream, request).await
    }
}

async fn exchange<S>(io: S, request: hyper::Request<Full<Bytes>>) -> Result<HttpResponse, DeliveryError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let transient = |what: &str, error: &dyn std::fmt::Display| DeliveryError::Transient(format!("{what}: {error}"));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| transient("HTTP handshake", &e))?;
    let driver = tokio::spawn(connection);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transient("HTTP request", &e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
        let body = match Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(error) => format!("(response body unreadable: {error})"),
        };
        Ok(HttpResponse {
            status,
            body,
            retry_after,
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let target = HttpTarget::parse("https://events.pagerduty.com/v2/enqueue").unwrap();
        assert_eq!(
            target,
            HttpTarget {
                https: true,
                host: "events.pagerduty.com".into(),
                port: 443,
                path: "/v2/enqueue".into()
            }
        );
        let target = HttpTarget::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((target.port, target.path.as_str()), (8080, "/"));
        let target = HttpTarget::parse("http://[::1]:9000/a?b=c").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.path.as_str()),
            ("::1", 9000, "/a?b=c")
        );
        assert_eq!(target.host_header(), "[::1]:9000");
        assert_eq!(HttpTarget::parse("http://h?x=1").unwrap().path, "/?x=1");
        assert!(HttpTarget::parse("ftp://x").is_err());
        assert!(HttpTarget::parse("http://:80/").is_err());
        assert!(HttpTarget::parse("http://h:0/").is_err());
        assert!(HttpTarget::parse("http://h:99999/").is_err());
        assert!(HttpTarget::parse("http://u:p@h/").is_err());
    }
}
