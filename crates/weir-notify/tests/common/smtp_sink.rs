//! An SMTP server that accepts mail over a real TCP socket and records the
//! envelope and the message (dot-stuffing undone), refusing recipients on a
//! reject list with 550 and optionally advertising STARTTLS (never completing it).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (mails_in, commands_in) = (mails.clone(), commands.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mails, commands, reject) = (mails_in.clone(), commands_in.clone(), reject.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &mails, &commands, &reject);
                });
            }
        });
        SmtpSink { addr, mails, commands }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn serve(
    stream: std::net::TcpStream,
    mails: &Mutex<Vec<Mail>>,
    commands: &Mutex<Vec<String>>,
    reject: &[String],
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.test ESMTP ready\r\n")?;
    let mut mail = Mail::default();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        commands.lock().unwrap().push(line.clone());
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO ") {
            mail.helo = line[5..].to_string();
            writer.write_all(b"250-sink.test greets you\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n")?;
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
            mails.lock().unwrap().push(std::mem::take(&mut mail));
            writer.write_all(b"250 2.0.0 queued\r\n")?;
        } else if upper == "QUIT" {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            writer.write_all(b"502 command not implemented\r\n")?;
        }
    }
}
