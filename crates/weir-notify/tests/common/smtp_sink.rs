//! An SMTP server that accepts mail over a real TCP socket and records the
//! envelope and the message (dot-stuffing undone), refusing recipients on a
//! reject list with 550; with a TLS configuration it offers STARTTLS (or
//! speaks TLS from the first byte) and AUTH PLAIN, recording the credentials.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio_rustls::rustls;

/// How the sink behaves.
#[derive(Clone, Default)]
pub struct SinkOptions {
    pub reject: Vec<String>,
    /// Offers STARTTLS (and AUTH PLAIN once in TLS) with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS from the first byte instead of STARTTLS.
    pub implicit_tls: bool,
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// Whether the message was sent inside TLS.
    pub over_tls: bool,
    /// `user:password` from AUTH PLAIN, if any.
    pub auth: Option<String>,
}

impl Mail {
    /// Value of a header in the message (first match, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = self.data.split_once("\r\n\r\n")?;
        let unfolded = headers.replace("\r\n ", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }

    pub fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    pub commands: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub fn start(reject: Vec<String>) -> SmtpSink {
        SmtpSink::start_with(SinkOptions {
            reject,
            ..SinkOptions::default()
        })
    }

    pub fn start_with(options: SinkOptions) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (mails_in, commands_in) = (mails.clone(), commands.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mails, commands, options) = (mails_in.clone(), commands_in.clone(), options.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &mails, &commands, &options);
                });
            }
        });
        SmtpSink { addr, mails, commands }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn tls_stream(config: &Arc<rustls::ServerConfig>, inner: Box<dyn Stream>) -> Box<dyn Stream> {
    let connection = rustls::ServerConnection::new(config.clone()).unwrap();
    Box::new(rustls::StreamOwned::new(connection, inner))
}

fn serve(
    stream: std::net::TcpStream,
    mails: &Mutex<Vec<Mail>>,
    commands: &Mutex<Vec<String>>,
    options: &SinkOptions,
) -> std::io::Result<()> {
    let reject = &options.reject;
    let mut over_tls = false;
    let mut stream: Box<dyn Stream> = Box::new(stream);
    if let (true, Some(config)) = (options.implicit_tls, &options.tls) {
        stream = tls_stream(config, stream);
        over_tls = true;
    }
    let mut reader = BufReader::new(stream);
    reader.get_mut().write_all(b"220 sink.test ESMTP ready\r\n")?;
    reader.get_mut().flush()?;
    let mut mail = Mail::default();
    loop {
        reader.get_mut().flush()?;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        commands.lock().unwrap().push(line.clone());
        let upper = line.to_ascii_uppercase();
        let writer = reader.get_mut();
        if upper.starts_with("EHLO ") {
            mail.helo = line[5..].to_string();
            writer.write_all(b"250-sink.test greets you\r\n250-8BITMIME\r\n")?;
            if options.tls.is_some() && !over_tls {
                writer.write_all(b"250-STARTTLS\r\n")?;
            }
            if over_tls {
                writer.write_all(b"250-AUTH PLAIN LOGIN\r\n")?;
            }
            writer.write_all(b"250 SIZE 1000000\r\n")?;
        } else if upper == "STARTTLS" && options.tls.is_some() && !over_tls {
            writer.write_all(b"220 2.0.0 ready to start TLS\r\n")?;
            writer.flush()?;
            let inner = reader.into_inner();
            reader = BufReader::new(tls_stream(options.tls.as_ref().unwrap(), inner));
            over_tls = true;
            mail = Mail::default();
        } else if upper.starts_with("AUTH PLAIN ") && over_tls {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&line[11..])
                .unwrap_or_default();
            let parts: Vec<String> = String::from_utf8_lossy(&decoded)
                .split('\0')
                .map(str::to_string)
                .collect();
            mail.auth = Some(format!(
                "{}:{}",
                parts.get(1).cloned().unwrap_or_default(),
                parts.get(2).cloned().unwrap_or_default()
            ));
            writer.write_all(b"235 2.7.0 authenticated\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim_matches(['<', '>']).to_string();
            writer.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            let address = line[8..].trim_matches(['<', '>']).to_string();
            if reject.contains(&address) {
                writer.write_all(b"550 5.1.1 no such user\r\n")?;
            } else {
                mail.to.push(address);
                writer.write_all(b"250 OK\r\n")?;
            }
        } else if upper == "DATA" {
            writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            writer.flush()?;
            let mut data = String::new();
            loop {
                let mut data_line = String::new();
                if reader.read_line(&mut data_line)? == 0 {
                    return Ok(());
                }
                if data_line == ".\r\n" {
                    break;
                }
                let unstuffed = data_line.strip_prefix('.').unwrap_or(&data_line);
                data.push_str(unstuffed);
            }
            mail.data = data;
            mail.over_tls = over_tls;
            let auth = mail.auth.clone();
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            mail.auth = auth;
            reader.get_mut().write_all(b"250 2.0.0 queued\r\n")?;
        } else if upper == "QUIT" {
            writer.write_all(b"221 bye\r\n")?;
            writer.flush()?;
            return Ok(());
        } else {
            writer.write_all(b"502 command not implemented\r\n")?;
        }
    }
}
