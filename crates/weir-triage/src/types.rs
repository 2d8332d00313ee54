//! The values triage takes and gives back: the alert to confirm, the link to
//! send, an answer, its outcome, escalations, suppression grants and the
//! per-alert timeline.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

/// An alert that needs its actor's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageAlert {
    pub alert_id: i64,
    pub rule_id: String,
    pub rule_title: String,
    /// The rule level (`critical`, `high`, ...): picks the answer deadline.
    pub severity: String,
    pub host_id: String,
    pub host_name: String,
    /// The flagged host's addresses: an answer from one of them is flagged.
    pub host_addresses: Vec<IpAddr>,
    pub summary: String,
    /// The person asked (a [`crate::Person`] id).
    pub person_id: String,
}

/// What must be sent to the person (by the notification outputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriageRequest {
    pub alert_id: i64,
    pub person_id: String,
    /// The single-use capability in the link.
    pub token: String,
    /// `<public base URL>/triage/<token>`.
    pub url: String,
    /// Unix seconds after which silence escalates.
    pub deadline: u64,
}

/// One answer from the confirm page (or another front end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub yes: bool,
    /// The 6-digit code; a yes without a valid one does not count.
    pub code: Option<String>,
    /// With an authenticated yes: also silence this rule for this person (capped).
    pub suppress_for: Option<Duration>,
    pub source: IpAddr,
    pub user_agent: String,
}

/// Why a code did not authenticate a yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeRejection {
    Missing,
    Malformed,
    Wrong,
    /// A code from an earlier time window.
    Expired,
    /// A code already accepted once (any alert).
    Replayed,
    /// The person has no second factor enrolled.
    NotEnrolled,
}

impl CodeRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeRejection::Missing => "missing code",
            CodeRejection::Malformed => "malformed code",
            CodeRejection::Wrong => "wrong code",
            CodeRejection::Expired => "expired code",
            CodeRejection::Replayed => "code already used",
            CodeRejection::NotEnrolled => "no second factor enrolled",
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerSource {
    pub source: IpAddr,
    pub user_agent: String,
    /// The answer came from the flagged host itself (an intruder there could answer).
    pub from_flagged_host: bool,
}

/// Why an alert went to the security on-call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The person said it was not them.
    Denied,
    /// Too many wrong, replayed or expired codes.
    FailedCodes,
    /// No answer before the deadline.
    Unanswered,
    /// Nobody could be asked: the actor is not in the people directory (or not known).
    NoActor,
}

impl EscalationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::Denied => "denied",
            EscalationReason::FailedCodes => "failed_codes",
            EscalationReason::Unanswered => "unanswered",
            EscalationReason::NoActor => "no_actor",
        }
    }

    pub(crate) fn parse(s: &str) -> EscalationReason {
        match s {
            "denied" => EscalationReason::Denied,
            "failed_codes" => EscalationReason::FailedCodes,
            "no_actor" => EscalationReason::NoActor,
            _ => EscalationReason::Unanswered,
        }
    }
}

/// An alert to send to the security on-call outputs, always at high priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub alert_id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: String,
    pub host_id: String,
    pub host_name: String,
    pub person_id: String,
    pub summary: String,
    pub reason: EscalationReason,
    pub at: u64,
    /// The answer that caused it (none when unanswered).
    pub answer: Option<AnswerSource>,
}

/// An authenticated yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    pub alert_id: i64,
    pub rule_id: String,
    pub host_id: String,
    pub person_id: String,
    pub at: u64,
    pub answer: AnswerSource,
    /// Present when the answer asked to silence repeats.
    pub suppression: Option<SuppressionGrant>,
}

/// A rejected code that did not (yet) escalate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeRejected {
    pub alert_id: i64,
    pub reason: CodeRejection,
    pub failures: u32,
    /// Codes left before escalation.
    pub remaining: u32,
    pub answer: AnswerSource,
}

/// The result of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Confirmed(Confirmation),
    CodeRejected(CodeRejected),
    Escalated(Escalation),
}

/// Permission to suppress repeats of a rule for a person, after an authenticated yes.
/// The caller creates the suppression in the alert store (rule + that person's login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionGrant {
    pub alert_id: i64,
    pub person_id: String,
    pub rule_id: String,
    pub host_id: String,
    /// Unix seconds; at most the configured maximum after the grant.
    pub until: u64,
}

/// The request as the confirm page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestView {
    pub alert_id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: String,
    pub host_id: String,
    pub host_name: String,
    pub summary: String,
    pub person_id: String,
    pub created: u64,
    pub deadline: u64,
    /// `pending`, `confirmed`, `denied`, `failed_codes`, `unanswered` or `no_actor`.
    pub state: String,
    pub failed_codes: u32,
    /// Set when an authenticated yes silenced repeats (unix seconds).
    pub suppressed_until: Option<u64>,
}

/// One step in an alert's triage history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub at: u64,
    /// `requested`, `notified`, `answered_yes`, `answered_no`, `code_failed`, `escalated`, `suppressed`.
    pub kind: String,
    pub detail: String,
    pub source: Option<String>,
    pub user_agent: Option<String>,
    pub from_flagged_host: bool,
}

/// A fresh TOTP enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub person_id: String,
    pub otpauth_uri: String,
    /// The URI as a terminal QR code (`None` if it does not fit one).
    pub terminal_qr: Option<String>,
    pub secret_base32: String,
    /// A previous secret was replaced.
    pub replaced: bool,
}
