//! Triage to the acting user: an alert from a rule with `confirm: actor` asks
//! the person who did it "was this you?" through a single-use signed link. A
//! yes counts only with a valid TOTP code bound to that alert; no, three failed
//! codes or silence past a per-severity deadline escalate to the security
//! on-call at high priority; only an authenticated yes may suppress repeats.

mod actor;
mod config;
mod directory;
mod error;
mod http;
pub mod layout;
mod page;
mod qr;
mod store;
mod token;
pub mod totp;
mod types;

pub use actor::{actor_of, login_of};
pub use config::{Deadlines, Severity, TriageConfig};
pub use directory::{Directory, Person};
pub use error::{DirectoryError, TriageError};
pub use http::{router, TriageHooks};
pub use qr::terminal_qr;
pub use store::Triage;
pub use token::LinkKey;
pub use types::*;
