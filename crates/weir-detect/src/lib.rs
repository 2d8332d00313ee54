//! Weir's detection pipeline: runs the compiled rule set over every stored
//! event and records matches as deduplicated alerts (shadow rules counted, not
//! sent), and backtests rules over stored history.

pub mod alerts;
pub mod backtest;
pub mod exceptions;
pub mod pipeline;
pub mod suppress;

pub use alerts::{Alert, AlertError, AlertQuery, AlertStore, Mode, Recorded, RuleMatch, RuleStats};
pub use backtest::{Backtest, RuleBacktest};
pub use exceptions::{Exception, ExceptionError, Exceptions};
pub use pipeline::{DetectConfig, DetectStats, Detector};
pub use suppress::{NewSuppression, Suppression};
