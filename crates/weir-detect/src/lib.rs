//! Weir's detection pipeline: runs the compiled rule set over every stored
//! event and records matches as deduplicated alerts (shadow rules counted, not
//! sent).

pub mod alerts;
pub mod pipeline;

pub use alerts::{Alert, AlertError, AlertQuery, AlertStore, Mode, Recorded, RuleMatch};
pub use pipeline::{DetectConfig, DetectStats, Detector};
