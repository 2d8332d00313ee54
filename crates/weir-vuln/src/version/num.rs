//! Arbitrary-precision non-negative integers as digit strings, for version components that may exceed `u64`.

use std::cmp::Ordering;
use std::fmt;

/// A decimal number kept as its digits without leading zeros ("" is zero), ordered numerically.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Num(String);

impl Num {
    /// Builds a number from ASCII digits; leading zeros are dropped. Returns `None` if `s` has a non-digit.
    pub fn from_digits(s: &str) -> Option<Num> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Num(s.trim_start_matches('0').to_string()))
    }

    pub fn zero() -> Num {
        Num(String::new())
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<u64> for Num {
    fn from(v: u64) -> Num {
        if v == 0 {
            Num::zero()
        } else {
            Num(v.to_string())
        }
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_order_beyond_u64() {
        let big = Num::from_digits("184467440737095516160").unwrap();
        let small = Num::from_digits("18446744073709551615").unwrap();
        assert!(big > small);
        assert_eq!(Num::from_digits("0007").unwrap(), Num::from(7));
        assert_eq!(Num::from_digits("000").unwrap(), Num::zero());
        assert!(Num::from_digits("1a").is_none());
        assert!(Num::from_digits("").is_none());
    }
}
