//! A small SMTP client (RFC 5321): EHLO, optional STARTTLS or implicit TLS,
//! AUTH PLAIN over TLS only, MAIL/RCPT/DATA with dot-stuffing, and a check of
//! every reply code (4xx is retried, 5xx is not). Written here rather than
//! pulling a mail framework because Weir sends one plain-text message shape.

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::{EmailSettings, SmtpTls};
use crate::error::DeliveryError;

/// Longest reply line read (RFC 5321 says 512; be lenient).
const MAX_REPLY_LINE: u64 = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP reply: code and text lines.
#[derive(Debug)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        self.lines.join(" / ")
    }
}

struct Session {
    server: String,
    stream: BufReader<Box<dyn Io>>,
}

impl Session {
    fn transient(&self, what: &str, error: impl std::fmt::Display) -> DeliveryError {
        DeliveryError::Transient(format!("smtp {} {what}: {error}", self.server))
    }

    async fn read_reply(&mut self) -> Result<Reply, DeliveryError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = (&mut self.stream).take(MAX_REPLY_LINE).read_line(&mut line).await;
            match read {
                Ok(0) => return Err(self.transient("reply", "connection closed")),
                Ok(_) => {}
                Err(error) => return Err(self.transient("reply", error)),
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let bytes = line.as_bytes();
            if bytes.len() < 3
                || !bytes[..3].iter().all(u8::is_ascii_digit)
                || (bytes.len() > 3 && !matches!(bytes[3], b' ' | b'-'))
            {
                return Err(self.transient("reply", format!("not an SMTP reply: {line:?}")));
            }
            let code: u16 = line[..3].parse().unwrap_or(0);
            let more = bytes.len() > 3 && bytes[3] == b'-';
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(self.transient("reply", "too many reply lines"));
            }
        }
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), DeliveryError> {
        let stream = self.stream.get_mut();
        stream
            .write_all(data)
            .await
            .map_err(|e| DeliveryError::Transient(format!("smtp write: {e}")))?;
        stream
            .flush()
            .await
            .map_err(|e| DeliveryError::Transient(format!("smtp write: {e}")))
    }

    /// Sends a command line and checks the reply code against `expected`.
    async fn command(&mut self, line: &str, shown: &str, expected: &[u16]) -> Result<Reply, DeliveryError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        self.expect(shown, expected).await
    }

    async fn expect(&mut self, shown: &str, expected: &[u16]) -> Result<Reply, DeliveryError> {
        let reply = self.read_reply().await?;
        if expected.contains(&reply.code) {
            return Ok(reply);
        }
        let message = format!("smtp {} {shown}: {} {}", self.server, reply.code, reply.text());
        if (400..500).contains(&reply.code) {
            Err(DeliveryError::Transient(message))
        } else {
            Err(DeliveryError::Permanent(message))
        }
    }

    async fn ehlo(&mut self, name: &str) -> Result<Vec<String>, DeliveryError> {
        let reply = self.command(&format!("EHLO {name}"), "EHLO", &[250]).await?;
        Ok(reply
            .lines
            .iter()
            .skip(1)
            .map(|line| line.to_ascii_uppercase())
            .collect())
    }

    async fn start_tls(self, host: &str, tls: &crate::tls::TlsClient) -> Result<Session, DeliveryError> {
        // Anything the server sent ahead of the handshake would be injected plaintext: refuse it.
        if !self.stream.buffer().is_empty() {
            return Err(DeliveryError::Permanent(format!(
                "smtp {}: data sent before TLS started",
                self.server
            )));
        }
        let server = self.server;
        let io = self.stream.into_inner();
        let tls = tls
            .connector()
            .connect(crate::tls::server_name(host)?, io)
            .await
            .map_err(|e| DeliveryError::Transient(format!("smtp {server} TLS: {e}")))?;
        Ok(Session {
            server,
            stream: BufReader::new(Box::new(tls)),
        })
    }
}

/// Puts a `.` before every line starting with `.` and ends the data with `<CRLF>.<CRLF>`.
pub fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    for line in message.split("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    // `split` yields a final empty piece when the message ends with CRLF; that left one extra CRLF.
    if message.ends_with("\r\n") {
        out.truncate(out.len() - 2);
    }
    out.push_str(".\r\n");
    out
}

/// Delivers `message` (headers + body, CRLF line ends) to `to` through the configured server.
pub async fn send_mail(settings: &EmailSettings, to: &[&str], message: &str) -> Result<(), DeliveryError> {
    let host = settings
        .server
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or(&settings.server);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let tcp = TcpStream::connect(&settings.server)
        .await
        .map_err(|e| DeliveryError::Transient(format!("smtp {} connect: {e}", settings.server)))?;
    let io: Box<dyn Io> = match settings.tls {
        SmtpTls::Implicit => Box::new(
            settings
                .tls_client
                .connector()
                .connect(crate::tls::server_name(&host)?, tcp)
                .await
                .map_err(|e| DeliveryError::Transient(format!("smtp {} TLS: {e}", settings.server)))?,
        ),
        SmtpTls::None | SmtpTls::StartTls => Box::new(tcp),
    };
    let mut session = Session {
        server: settings.server.clone(),
        stream: BufReader::new(io),
    };
    session.expect("greeting", &[220]).await?;
    let helo_name = match crate::syslog::local_hostname() {
        name if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) =>
        {
            name
        }
        _ => "weir.localdomain".to_string(),
    };
    let mut extensions = session.ehlo(&helo_name).await?;
    if settings.tls == SmtpTls::StartTls {
        if !extensions.iter().any(|ext| ext == "STARTTLS") {
            return Err(DeliveryError::Permanent(format!(
                "smtp {}: server does not offer STARTTLS (set tls: none for a plain local relay)",
                settings.server
            )));
        }
        session.command("STARTTLS", "STARTTLS", &[220]).await?;
        session = session.start_tls(&host, &settings.tls_client).await?;
        extensions = session.ehlo(&helo_name).await?;
    }
    if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
        if !extensions
            .iter()
            .any(|ext| ext.starts_with("AUTH") && ext.split_whitespace().any(|m| m == "PLAIN"))
        {
            return Err(DeliveryError::Permanent(format!(
                "smtp {}: server does not offer AUTH PLAIN",
                settings.server
            )));
        }
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("\0{username}\0{password}"));
        session
            .command(&format!("AUTH PLAIN {credentials}"), "AUTH", &[235])
            .await?;
    }
    session
        .command(&format!("MAIL FROM:<{}>", settings.from), "MAIL FROM", &[250])
        .await?;
    for address in to {
        session
            .command(
                &format!("RCPT TO:<{address}>"),
                &format!("RCPT TO {address}"),
                &[250, 251],
            )
            .await?;
    }
    session.command("DATA", "DATA", &[354]).await?;
    session.write(dot_stuff(message).as_bytes()).await?;
    session.expect("end of DATA", &[250]).await?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = session.command("QUIT", "QUIT", &[221]).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff("a"), "a\r\n.\r\n");
        assert_eq!(dot_stuff(".\r\n"), "..\r\n.\r\n");
    }
}
