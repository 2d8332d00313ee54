//! The running account of one scan: time left, files walked, packages kept, and the error lines.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::Limits;
use crate::error::HostScanError;

/// Shared by every part of a scan so that all of them stop at the same limits.
pub struct Budget {
    pub limits: Limits,
    deadline: Instant,
    files_walked: usize,
    errors: Vec<String>,
    errors_dropped: usize,
    walk_limit_noted: bool,
    time_noted: bool,
    cancel: Option<Arc<AtomicBool>>,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget {
            deadline: Instant::now() + limits.time_budget,
            limits,
            files_walked: 0,
            errors: Vec::new(),
            errors_dropped: 0,
            walk_limit_noted: false,
            time_noted: false,
            cancel: None,
        }
    }

    /// A budget that also ends as soon as `cancel` is set (a stopping scanner).
    pub fn with_cancel(limits: Limits, cancel: Arc<AtomicBool>) -> Budget {
        Budget {
            cancel: Some(cancel),
            ..Budget::new(limits)
        }
    }

    /// True when the scan was cancelled from outside.
    pub fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Records one "path: reason" line (bounded; the excess is counted).
    pub fn note(&mut self, line: impl Into<String>) {
        if self.errors.len() < self.limits.max_errors {
            self.errors.push(line.into());
        } else {
            self.errors_dropped += 1;
        }
    }

    pub fn note_err(&mut self, err: &HostScanError) {
        self.note(err.to_string());
    }

    /// True while there is time left; notes the first time it runs out, naming what was being done.
    pub fn has_time(&mut self, doing: &str) -> bool {
        if Instant::now() < self.deadline && !self.cancelled() {
            return true;
        }
        if !self.time_noted && self.cancelled() {
            self.time_noted = true;
            self.note(format!("{doing}: scan cancelled, rest skipped"));
        } else if !self.time_noted {
            self.time_noted = true;
            let budget = self.limits.time_budget;
            self.note(format!(
                "{doing}: scan time budget of {budget:?} exhausted, rest skipped"
            ));
        }
        false
    }

    /// Accounts for one visited file or directory entry; false (noted once) when the walk limit is reached.
    pub fn walk(&mut self, path: &Path) -> bool {
        if self.files_walked < self.limits.max_files_walked && self.has_time(&path.display().to_string()) {
            self.files_walked += 1;
            return true;
        }
        if !self.walk_limit_noted && self.files_walked >= self.limits.max_files_walked {
            self.walk_limit_noted = true;
            let max = self.limits.max_files_walked;
            self.note(format!(
                "{}: walk limit of {max} files reached, rest skipped",
                path.display()
            ));
        }
        false
    }

    /// The error lines, with a final count of those that did not fit.
    pub fn into_errors(mut self) -> Vec<String> {
        if self.errors_dropped > 0 {
            let n = self.errors_dropped;
            self.errors.push(format!("{n} more errors not listed"));
        }
        self.errors
    }
}

/// Reads a whole file of at most `limit` bytes; a larger file is an error rather than a silent truncation.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, HostScanError> {
    let file = std::fs::File::open(path).map_err(|e| HostScanError::io(path, e))?;
    let mut buf = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| HostScanError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(HostScanError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(buf)
}

/// [`read_bounded`] for text: invalid UTF-8 is replaced rather than refused (names stay readable).
pub fn read_text(path: &Path, limit: u64) -> Result<String, HostScanError> {
    let bytes = read_bounded(path, limit)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
