//! Which matched advisories count towards the exposure metric, and why the others do not.

use std::fmt;

/// Treatment of advisories a distribution rates as not worth fixing (Debian `unimportant` / `no-dsa`,
/// Ubuntu `negligible`). Counting them keeps the "oldest exposure" pinned at decades for every host,
/// which makes the metric useless, so the default excludes them and says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MinorDistroPolicy {
    Include,
    #[default]
    Exclude,
}

/// Matching policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Policy {
    pub minor_distro: MinorDistroPolicy,
}

/// Why a matching advisory does not count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Excluded {
    /// The record was withdrawn by its publisher.
    Withdrawn,
    /// RustSec informational advisory (unmaintained, unsound, notice): no vulnerability to age.
    Informational(String),
    /// The distribution rated it as not warranting a fix and the policy excludes such ratings.
    MinorDistroRating { field: String, value: String },
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Excluded::Withdrawn => f.write_str("withdrawn by its publisher"),
            Excluded::Informational(kind) => write!(f, "informational advisory ({kind}), not a vulnerability"),
            Excluded::MinorDistroRating { field, value } => {
                write!(
                    f,
                    "distribution rates it {value:?} ({field}); policy excludes such ratings"
                )
            }
        }
    }
}
