//! Weir's detection pipeline: runs the compiled rule set over every stored
//! event and records matches as deduplicated alerts (shadow rules counted, not
//! sent), and backtests rules over stored history.

pub mod actions;
pub mod alerts;
pub mod backtest;
pub mod exceptions;
pub mod pipeline;
pub mod response;
pub mod suppress;

pub use actions::ActionRecord;
pub use alerts::{Alert, AlertError, AlertQuery, AlertStore, Mode, Recorded, RuleMatch, RuleStats};
pub use backtest::{Backtest, RuleBacktest};
pub use exceptions::{Exception, ExceptionError, Exceptions};
pub use pipeline::{DetectConfig, DetectStats, Detector, EnforceSet, BREAKER_RULE_ID};
pub use response::{ResponseConfig, ResponseHooks};
pub use suppress::{NewSuppression, Suppression};
pub use weir_rules::Mode as RuleMode;
