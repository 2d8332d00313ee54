//! Loading OSV files and directories into a [`VulnDb`], with a report of what failed and why.

use std::path::{Path, PathBuf};

use crate::advisory::{Advisory, RangeNote};
use crate::db::VulnDb;
use crate::error::LoadError;
use crate::osv::parse_record;
use crate::policy::Policy;
use crate::range::RangeSkip;

/// What loading found, for the operator: counts, failed files with reasons, and skipped ranges.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub files: usize,
    pub loaded: usize,
    pub failures: Vec<LoadError>,
    /// Ranges not evaluated (GIT, unknown ecosystems) and malformed ranges left out, per advisory.
    pub range_notes: Vec<(String, RangeNote)>,
}

impl std::fmt::Display for LoadReport {
    /// A summary for operators: counts, then one line per failed file and per malformed range.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unsupported = self.range_notes.len() - self.invalid_ranges().count();
        write!(
            f,
            "{} files, {} advisories loaded, {} failed, {} ranges not evaluated by design, {} malformed ranges left out",
            self.files,
            self.loaded,
            self.failures.len(),
            unsupported,
            self.invalid_ranges().count()
        )?;
        for e in &self.failures {
            write!(f, "\n  failed: {e}")?;
        }
        for (id, n) in self.invalid_ranges() {
            if let RangeSkip::Invalid { field, reason } = &n.skip {
                write!(f, "\n  {id}: {}.{field}: {reason}", n.field)?;
            }
        }
        Ok(())
    }
}

impl LoadReport {
    /// Malformed ranges (as opposed to range types Weir does not evaluate by design).
    pub fn invalid_ranges(&self) -> impl Iterator<Item = &(String, RangeNote)> {
        self.range_notes
            .iter()
            .filter(|(_, n)| matches!(n.skip, RangeSkip::Invalid { .. }))
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>, report: &mut LoadReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            report.failures.push(LoadError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(source) => {
                report.failures.push(LoadError::Io {
                    path: dir.to_path_buf(),
                    source,
                });
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_json(&path, out, report),
            Ok(_) if path.extension().is_some_and(|e| e == "json") => out.push(path),
            Ok(_) => {}
            Err(source) => report.failures.push(LoadError::Io { path, source }),
        }
    }
}

impl VulnDb {
    /// Loads every `*.json` file under the given directories (recursively; a path may also be a single
    /// file). Files that fail are listed in the report with the reason and do not stop the load.
    pub fn load_dir<P: AsRef<Path>>(paths: &[P]) -> (VulnDb, LoadReport) {
        let mut db = VulnDb::new(Policy::default());
        let report = db.load_paths(paths);
        (db, report)
    }

    /// Like [`VulnDb::load_dir`] into an existing database.
    pub fn load_paths<P: AsRef<Path>>(&mut self, paths: &[P]) -> LoadReport {
        let mut report = LoadReport::default();
        let mut files = Vec::new();
        for p in paths {
            let p = p.as_ref();
            if p.is_file() {
                files.push(p.to_path_buf());
            } else {
                collect_json(p, &mut files, &mut report);
            }
        }
        files.sort();
        report.files = files.len();
        for path in files {
            let text = match std::fs::read(&path) {
                Ok(t) => t,
                Err(source) => {
                    report.failures.push(LoadError::Io { path, source });
                    continue;
                }
            };
            match self.add_json(&path, &text) {
                Ok(notes) => {
                    report.loaded += 1;
                    let id = &self.advisories[self.advisories.len() - 1].id;
                    report.range_notes.extend(notes.into_iter().map(|n| (id.clone(), n)));
                }
                Err(e) => report.failures.push(e),
            }
        }
        report
    }

    /// Parses and adds one OSV document; `path` names it in errors.
    pub fn add_json(&mut self, path: &Path, text: &[u8]) -> Result<Vec<RangeNote>, LoadError> {
        let rec = parse_record(path, text)?;
        let (adv, notes) = Advisory::compile(path, rec)?;
        self.insert(adv)?;
        Ok(notes)
    }
}
