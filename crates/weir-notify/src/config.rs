//! `outputs.yaml`: which outputs exist, their settings and filters. Secrets
//! may be inline or read from `*_file` paths at load time. Every error names
//! the file, the output (index and name) and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::notification::{Kind, Notification, Severity};
use crate::tls::TlsClient;

/// Default PagerDuty Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Default Slack Web API base.
pub const SLACK_API_BASE: &str = "https://slack.com/api";
/// Syslog facility used when none is given: authpriv (10), the "security/authorization"
/// facility that distributions route to a root-only file, since alerts carry command lines.
pub const DEFAULT_SYSLOG_FACILITY: u8 = 10;
/// Largest UDP syslog datagram sent by default (RFC 5424 requires receivers to take 480, should take 2048).
pub const DEFAULT_SYSLOG_UDP_MAX: usize = 2048;

/// All configured outputs.
#[derive(Debug, Clone, Default)]
pub struct OutputsConfig {
    pub outputs: Vec<OutputConfig>,
}

/// One output: common delivery settings plus what kind of output it is.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    pub name: String,
    pub min_severity: Severity,
    /// When set, only these kinds are delivered.
    pub kinds: Option<Vec<Kind>>,
    /// Attempts after the first one before the notification counts as failed.
    pub retries: u32,
    /// Time allowed for one attempt (connect + send + reply).
    pub timeout: Duration,
    /// Notifications waiting for this output; more are dropped and counted.
    pub queue_capacity: usize,
    /// First retry delay; doubles per retry up to 30 s, with jitter.
    pub backoff_base: Duration,
    pub settings: OutputSettings,
}

impl OutputConfig {
    /// Whether this output wants the notification (severity and kind filters).
    pub fn accepts(&self, notification: &Notification) -> bool {
        if notification.severity < self.min_severity {
            return false;
        }
        match &self.kinds {
            Some(kinds) => kinds.contains(&notification.kind),
            None => true,
        }
    }

    /// The output's type name as written in the config.
    pub fn type_name(&self) -> &'static str {
        self.settings.type_name()
    }
}

/// Type-specific settings.
#[derive(Debug, Clone)]
pub enum OutputSettings {
    Webhook(WebhookSettings),
    Slack(SlackSettings),
    PagerDuty(PagerDutySettings),
    Syslog(SyslogSettings),
    Email(EmailSettings),
    File(FileSettings),
}

impl OutputSettings {
    pub fn type_name(&self) -> &'static str {
        match self {
            OutputSettings::Webhook(_) => "webhook",
            OutputSettings::Slack(_) => "slack",
            OutputSettings::PagerDuty(_) => "pagerduty",
            OutputSettings::Syslog(_) => "syslog",
            OutputSettings::Email(_) => "email",
            OutputSettings::File(_) => "file",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    /// HMAC key; the body is sent unsigned when absent.
    pub secret: Option<String>,
    /// Roots trusted for TLS: Mozilla's, plus the output's `ca_file` if given.
    pub tls_client: TlsClient,
}

/// Where Slack messages go.
#[derive(Debug, Clone)]
pub enum SlackTarget {
    /// An incoming-webhook URL (fixed channel; cannot send direct messages).
    IncomingWebhook { url: String },
    /// A bot token and `chat.postMessage`; triage requests go as DMs to the person's member id.
    Bot {
        token: String,
        channel: String,
        api_base: String,
    },
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub target: SlackTarget,
    /// Roots trusted for TLS: Mozilla's, plus the output's `ca_file` if given.
    pub tls_client: TlsClient,
}

#[derive(Debug, Clone)]
pub struct PagerDutySettings {
    pub routing_key: String,
    pub events_url: String,
    /// Roots trusted for TLS: Mozilla's, plus the output's `ca_file` if given.
    pub tls_client: TlsClient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogProtocol {
    Udp,
    /// Octet-counting framing (RFC 6587 3.4.1).
    Tcp,
}

#[derive(Debug, Clone)]
pub struct SyslogSettings {
    /// `host:port`.
    pub address: String,
    pub protocol: SyslogProtocol,
    pub facility: u8,
    /// Messages over UDP are truncated to this many bytes (and flagged in the structured data).
    pub udp_max_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS; refuses to send if the server does not offer it.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `host:port`.
    pub server: String,
    pub tls: SmtpTls,
    pub from: String,
    pub to: Vec<String>,
    /// AUTH PLAIN credentials (only sent over TLS).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Roots trusted for TLS: Mozilla's, plus the output's `ca_file` if given.
    pub tls_client: TlsClient,
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub path: PathBuf,
}

/// The document as written; validated into [`OutputsConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    #[serde(default)]
    outputs: Vec<RawOutput>,
}

/// One output as written: every field of every type, checked per type after parsing.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    #[serde(rename = "type")]
    output_type: String,
    min_severity: Option<Severity>,
    kinds: Option<Vec<Kind>>,
    retries: Option<u32>,
    timeout: Option<RawDuration>,
    queue: Option<usize>,
    backoff: Option<RawDuration>,
    // webhook
    url: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    // slack
    webhook_url: Option<String>,
    webhook_url_file: Option<PathBuf>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    channel: Option<String>,
    api_base: Option<String>,
    // pagerduty
    routing_key: Option<String>,
    routing_key_file: Option<PathBuf>,
    events_url: Option<String>,
    // syslog
    address: Option<String>,
    protocol: Option<String>,
    facility: Option<RawFacility>,
    udp_max_bytes: Option<usize>,
    // email
    server: Option<String>,
    tls: Option<String>,
    from: Option<String>,
    to: Option<Vec<String>>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    // webhook, slack, pagerduty, email
    ca_file: Option<PathBuf>,
    // file
    path: Option<PathBuf>,
}

/// `timeout: 10` (seconds) or `timeout: "500ms"` / `"10s"` / `"2m"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// `facility: 10` or `facility: authpriv`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawFacility {
    Number(u8),
    Name(String),
}

impl OutputsConfig {
    /// Reads and validates an `outputs.yaml` file.
    pub fn load(path: &Path) -> Result<OutputsConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        OutputsConfig::from_yaml(&text, &path.display().to_string())
    }

    /// Parses YAML text; `origin` (usually the file name) starts every error message.
    /// Relative `*_file` paths are taken as written (relative to the working directory).
    pub fn from_yaml(text: &str, origin: &str) -> Result<OutputsConfig, ConfigError> {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let raw: RawDocument = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let field = error.path().to_string();
            let message = error.into_inner().to_string();
            // serde_yaml may start its message with (part of) the same path; say it once.
            let message = match message.split_once(": ") {
                Some((path, rest)) if !path.is_empty() && field.starts_with(path) => rest.to_string(),
                _ => message,
            };
            ConfigError::Parse {
                origin: origin.to_string(),
                field,
                message,
            }
        })?;
        let mut outputs = Vec::with_capacity(raw.outputs.len());
        for (index, raw_output) in raw.outputs.into_iter().enumerate() {
            let output = validate(origin, index, raw_output)?;
            if outputs
                .iter()
                .any(|existing: &OutputConfig| existing.name == output.name)
            {
                return Err(ConfigError::Invalid {
                    origin: origin.to_string(),
                    index,
                    name: output.name,
                    field: "name".into(),
                    message: "another output already has this name".into(),
                });
            }
            outputs.push(output);
        }
        Ok(OutputsConfig { outputs })
    }
}

/// Builds errors for one output.
struct Context<'a> {
    origin: &'a str,
    index: usize,
    name: &'a str,
}

impl Context<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            index: self.index,
            name: self.name.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A secret given inline (`field`) or read from `field_file`; exactly one may be set.
    fn secret(
        &self,
        field: &str,
        inline: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<String>, ConfigError> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(self.invalid(field, format!("give either {field} or {field}_file, not both"))),
            (Some(value), None) => Ok(Some(value)),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::SecretFile {
                    origin: self.origin.to_string(),
                    index: self.index,
                    name: self.name.to_string(),
                    field: format!("{field}_file"),
                    file: file.clone(),
                    source,
                })?;
                let value = text.trim().to_string();
                if value.is_empty() {
                    return Err(self.invalid(&format!("{field}_file"), format!("{} is empty", file.display())));
                }
                Ok(Some(value))
            }
            (None, None) => Ok(None),
        }
    }

    fn required<T>(&self, field: &str, value: Option<T>, output_type: &str) -> Result<T, ConfigError> {
        value.ok_or_else(|| self.invalid(field, format!("missing (type {output_type} needs it)")))
    }
}

fn validate(origin: &str, index: usize, raw: RawOutput) -> Result<OutputConfig, ConfigError> {
    let name = raw.name.clone();
    let context = Context {
        origin,
        index,
        name: &name,
    };
    if name.trim().is_empty() {
        return Err(context.invalid("name", "must not be empty"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(context.invalid("name", "use letters, digits, '-', '_' or '.' (it labels metrics)"));
    }
    reject_foreign_fields(&context, &raw)?;
    let timeout = duration_field(&context, "timeout", raw.timeout.as_ref(), Duration::from_secs(10))?;
    let backoff_base = duration_field(&context, "backoff", raw.backoff.as_ref(), Duration::from_millis(200))?;
    let queue_capacity = raw.queue.unwrap_or(1024);
    if queue_capacity == 0 || queue_capacity > 1_000_000 {
        return Err(context.invalid("queue", "must be between 1 and 1000000"));
    }
    let retries = raw.retries.unwrap_or(5);
    if retries > 100 {
        return Err(context.invalid("retries", "must be at most 100"));
    }
    let tls_client = match &raw.ca_file {
        None => TlsClient::default(),
        Some(path) => TlsClient::with_ca_file(path).map_err(|message| context.invalid("ca_file", message))?,
    };
    let output_type = raw.output_type.clone();
    let settings = match output_type.as_str() {
        "webhook" => {
            let url = context.required("url", raw.url, "webhook")?;
            check_http_url(&context, "url", &url)?;
            let secret = context.secret("secret", raw.secret, raw.secret_file)?;
            OutputSettings::Webhook(WebhookSettings {
                url,
                secret,
                tls_client,
            })
        }
        "slack" => {
            let webhook_url = context.secret("webhook_url", raw.webhook_url, raw.webhook_url_file)?;
            let token = context.secret("token", raw.token, raw.token_file)?;
            let target = match (webhook_url, token) {
                (Some(_), Some(_)) => {
                    return Err(context.invalid("token", "give either webhook_url or token, not both"))
                }
                (Some(url), None) => {
                    check_http_url(&context, "webhook_url", &url)?;
                    if raw.channel.is_some() {
                        return Err(context.invalid(
                            "channel",
                            "an incoming webhook posts to its own channel; use token + channel",
                        ));
                    }
                    SlackTarget::IncomingWebhook { url }
                }
                (None, Some(token)) => {
                    let channel = context.required("channel", raw.channel, "slack with token")?;
                    let api_base = raw.api_base.unwrap_or_else(|| SLACK_API_BASE.to_string());
                    check_http_url(&context, "api_base", &api_base)?;
                    SlackTarget::Bot {
                        token,
                        channel,
                        api_base: api_base.trim_end_matches('/').to_string(),
                    }
                }
                (None, None) => {
                    return Err(context.invalid("webhook_url", "missing (type slack needs webhook_url or token)"))
                }
            };
            OutputSettings::Slack(SlackSettings { target, tls_client })
        }
        "pagerduty" => {
            let routing_key = context.secret("routing_key", raw.routing_key, raw.routing_key_file)?;
            let routing_key = context.required("routing_key", routing_key, "pagerduty")?;
            let events_url = raw.events_url.unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string());
            check_http_url(&context, "events_url", &events_url)?;
            OutputSettings::PagerDuty(PagerDutySettings {
                routing_key,
                events_url,
                tls_client,
            })
        }
        "syslog" => {
            let address = context.required("address", raw.address, "syslog")?;
            check_host_port(&context, "address", &address)?;
            let protocol = match raw.protocol.as_deref().unwrap_or("udp") {
                "udp" => SyslogProtocol::Udp,
                "tcp" => SyslogProtocol::Tcp,
                other => return Err(context.invalid("protocol", format!("{other:?} is not udp or tcp"))),
            };
            let facility = match raw.facility {
                None => DEFAULT_SYSLOG_FACILITY,
                Some(RawFacility::Number(number)) if number <= 23 => number,
                Some(RawFacility::Number(number)) => {
                    return Err(context.invalid("facility", format!("{number} is not a facility (0-23)")))
                }
                Some(RawFacility::Name(name)) => facility_by_name(&name)
                    .ok_or_else(|| context.invalid("facility", format!("{name:?} is not a syslog facility name")))?,
            };
            let udp_max_bytes = raw.udp_max_bytes.unwrap_or(DEFAULT_SYSLOG_UDP_MAX);
            if !(480..=65_000).contains(&udp_max_bytes) {
                return Err(context.invalid("udp_max_bytes", "must be between 480 and 65000"));
            }
            OutputSettings::Syslog(SyslogSettings {
                address,
                protocol,
                facility,
                udp_max_bytes,
            })
        }
        "email" => {
            let server = context.required("server", raw.server, "email")?;
            check_host_port(&context, "server", &server)?;
            let tls = match raw.tls.as_deref().unwrap_or("starttls") {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "implicit" => SmtpTls::Implicit,
                other => return Err(context.invalid("tls", format!("{other:?} is not none, starttls or implicit"))),
            };
            let from = context.required("from", raw.from, "email")?;
            check_address(&context, "from", &from)?;
            let to = context.required("to", raw.to, "email")?;
            if to.is_empty() {
                return Err(context.invalid("to", "needs at least one address"));
            }
            for (position, address) in to.iter().enumerate() {
                check_address(&context, &format!("to[{position}]"), address)?;
            }
            let password = context.secret("password", raw.password, raw.password_file)?;
            if raw.username.is_some() != password.is_some() {
                return Err(context.invalid("password", "username and password go together"));
            }
            if raw.username.is_some() && tls == SmtpTls::None {
                return Err(context.invalid(
                    "tls",
                    "refusing to send a password without TLS (use starttls or implicit)",
                ));
            }
            OutputSettings::Email(EmailSettings {
                server,
                tls,
                from,
                to,
                username: raw.username,
                password,
                tls_client,
            })
        }
        "file" => {
            let path = context.required("path", raw.path, "file")?;
            OutputSettings::File(FileSettings { path })
        }
        other => {
            return Err(context.invalid(
                "type",
                format!("{other:?} is not one of webhook, slack, pagerduty, syslog, email, file"),
            ))
        }
    };
    Ok(OutputConfig {
        name,
        min_severity: raw.min_severity.unwrap_or(Severity::Informational),
        kinds: raw.kinds,
        retries,
        timeout,
        queue_capacity,
        backoff_base,
        settings,
    })
}

/// Fields that belong to another output type are an error, not silently ignored.
fn reject_foreign_fields(context: &Context<'_>, raw: &RawOutput) -> Result<(), ConfigError> {
    let present: [(&str, bool); 25] = [
        ("url", raw.url.is_some()),
        ("secret", raw.secret.is_some()),
        ("secret_file", raw.secret_file.is_some()),
        ("webhook_url", raw.webhook_url.is_some()),
        ("webhook_url_file", raw.webhook_url_file.is_some()),
        ("token", raw.token.is_some()),
        ("token_file", raw.token_file.is_some()),
        ("channel", raw.channel.is_some()),
        ("api_base", raw.api_base.is_some()),
        ("routing_key", raw.routing_key.is_some()),
        ("routing_key_file", raw.routing_key_file.is_some()),
        ("events_url", raw.events_url.is_some()),
        ("address", raw.address.is_some()),
        ("protocol", raw.protocol.is_some()),
        ("facility", raw.facility.is_some()),
        ("udp_max_bytes", raw.udp_max_bytes.is_some()),
        ("server", raw.server.is_some()),
        ("tls", raw.tls.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("username", raw.username.is_some()),
        ("password", raw.password.is_some()),
        ("password_file", raw.password_file.is_some()),
        ("path", raw.path.is_some()),
        ("ca_file", raw.ca_file.is_some()),
    ];
    let allowed: &[&str] = match raw.output_type.as_str() {
        "webhook" => &["url", "secret", "secret_file", "ca_file"],
        "slack" => &[
            "webhook_url",
            "webhook_url_file",
            "token",
            "token_file",
            "channel",
            "api_base",
            "ca_file",
        ],
        "pagerduty" => &["routing_key", "routing_key_file", "events_url", "ca_file"],
        "syslog" => &["address", "protocol", "facility", "udp_max_bytes"],
        "email" => &[
            "server",
            "tls",
            "from",
            "to",
            "username",
            "password",
            "password_file",
            "ca_file",
        ],
        "file" => &["path"],
        _ => return Ok(()),
    };
    for (field, is_set) in present {
        if is_set && !allowed.contains(&field) {
            return Err(context.invalid(field, format!("not a setting of type {}", raw.output_type)));
        }
    }
    Ok(())
}

fn duration_field(
    context: &Context<'_>,
    field: &str,
    raw: Option<&RawDuration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let duration = match raw {
        None => default,
        Some(RawDuration::Seconds(seconds)) => Duration::from_secs(*seconds),
        Some(RawDuration::Text(text)) => parse_duration(text)
            .ok_or_else(|| context.invalid(field, format!("{text:?} is not a duration like 500ms, 10s or 2m")))?,
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(context.invalid(field, "must be more than zero and at most 1 hour"));
    }
    Ok(duration)
}

/// `500ms`, `10s`, `2m`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let value: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(value)),
        "s" => Some(Duration::from_secs(value)),
        "m" => Some(Duration::from_secs(value.checked_mul(60)?)),
        _ => None,
    }
}

fn check_http_url(context: &Context<'_>, field: &str, url: &str) -> Result<(), ConfigError> {
    crate::http::HttpTarget::parse(url)
        .map(|_| ())
        .map_err(|message| context.invalid(field, message))
}

fn check_host_port(context: &Context<'_>, field: &str, address: &str) -> Result<(), ConfigError> {
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => Ok(()),
        _ => Err(context.invalid(field, format!("{address:?} is not host:port"))),
    }
}

/// Rejects what would break the SMTP envelope or headers (no CR/LF, angle brackets or spaces).
fn check_address(context: &Context<'_>, field: &str, address: &str) -> Result<(), ConfigError> {
    let well_formed = address
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','));
    if well_formed {
        Ok(())
    } else {
        Err(context.invalid(field, format!("{address:?} is not an email address")))
    }
}

fn facility_by_name(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES
        .iter()
        .position(|candidate| *candidate == name)
        .map(|position| position as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("2h"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10"), None);
    }

    #[test]
    fn facility_names_match_rfc_5424_numbers() {
        assert_eq!(facility_by_name("auth"), Some(4));
        assert_eq!(facility_by_name("authpriv"), Some(10));
        assert_eq!(facility_by_name("local0"), Some(16));
        assert_eq!(facility_by_name("local7"), Some(23));
        assert_eq!(facility_by_name("nope"), None);
    }
}
