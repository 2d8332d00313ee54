//! Syslog listeners (UDP datagrams; TCP with octet-counting frames) and a
//! parser of RFC 5424 messages used to check what the output sent.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

pub struct SyslogListener {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl SyslogListener {
    pub fn udp() -> SyslogListener {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let recorded = messages.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while let Ok(length) = socket.recv(&mut buffer) {
                recorded.lock().unwrap().push(buffer[..length].to_vec());
            }
        });
        SyslogListener { addr, messages }
    }

    /// Reads `LEN SP MSG` frames (RFC 6587 octet counting) from every connection.
    pub fn tcp() -> SyslogListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let recorded = messages.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut all = Vec::new();
                if stream.read_to_end(&mut all).is_err() {
                    continue;
                }
                let mut rest = &all[..];
                while !rest.is_empty() {
                    let space = rest.iter().position(|b| *b == b' ').expect("frame has a length");
                    let length: usize = std::str::from_utf8(&rest[..space])
                        .unwrap()
                        .parse()
                        .expect("length is a number");
                    let frame = &rest[space + 1..space + 1 + length];
                    recorded.lock().unwrap().push(frame.to_vec());
                    rest = &rest[space + 1 + length..];
                }
            }
        });
        SyslogListener { addr, messages }
    }

    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().clone()
    }
}

/// The parts of an RFC 5424 message.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub priority: u16,
    pub version: u8,
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub proc_id: String,
    pub msg_id: String,
    pub sd_id: String,
    pub params: BTreeMap<String, String>,
    pub message: String,
}

fn take_field<'a>(text: &mut &'a str) -> Result<&'a str, String> {
    let (field, rest) = text
        .split_once(' ')
        .ok_or_else(|| format!("missing field in {text:?}"))?;
    *text = rest;
    Ok(field)
}

/// Parses one message with a single SD element; unescapes `\"`, `\\` and `\]`.
pub fn parse_rfc5424(raw: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
    let after_pri = text.strip_prefix('<').ok_or("no '<'")?;
    let (priority, mut rest) = after_pri.split_once('>').ok_or("no '>'")?;
    let priority: u16 = priority.parse().map_err(|_| "bad PRI")?;
    if priority > 191 {
        return Err(format!("PRI {priority} out of range"));
    }
    let version: u8 = take_field(&mut rest)?.parse().map_err(|_| "bad version")?;
    let timestamp = take_field(&mut rest)?.to_string();
    let hostname = take_field(&mut rest)?.to_string();
    let app_name = take_field(&mut rest)?.to_string();
    let proc_id = take_field(&mut rest)?.to_string();
    let msg_id = take_field(&mut rest)?.to_string();
    for field in [&hostname, &app_name, &proc_id, &msg_id] {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!("header field {field:?} is not PRINTUSASCII"));
        }
    }
    let mut chars = rest.char_indices().peekable();
    if chars.next().map(|(_, c)| c) != Some('[') {
        return Err("no SD element".into());
    }
    let sd_start = 1;
    let mut sd_id_end = None;
    let mut params = BTreeMap::new();
    let mut end = None;
    while let Some((index, c)) = chars.next() {
        if sd_id_end.is_none() {
            if c == ' ' || c == ']' {
                sd_id_end = Some(index);
                if c == ']' {
                    end = Some(index);
                    break;
                }
            }
            continue;
        }
        // PARAM-NAME="VALUE"
        let mut name = String::from(c);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            name.push(c);
        }
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("param {name} value not quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, escaped @ ('"' | '\\' | ']'))) => value.push(escaped),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err("unterminated escape".into()),
                },
                Some((_, '"')) => break,
                Some((_, ']')) => return Err(format!("unescaped ']' in value of {name}")),
                Some((_, c)) => value.push(c),
                None => return Err("unterminated value".into()),
            }
        }
        params.insert(name, value);
        match chars.next() {
            Some((_, ' ')) => continue,
            Some((index, ']')) => {
                end = Some(index);
                break;
            }
            other => return Err(format!("unexpected {other:?} after a param")),
        }
    }
    let end = end.ok_or("SD element not closed")?;
    let sd_id = rest[sd_start..sd_id_end.unwrap()].to_string();
    let message = rest[end + 1..]
        .strip_prefix(' ')
        .unwrap_or(&rest[end + 1..])
        .to_string();
    Ok(Parsed {
        priority,
        version,
        timestamp,
        hostname,
        app_name,
        proc_id,
        msg_id,
        sd_id,
        params,
        message,
    })
}
