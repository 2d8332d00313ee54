//! User names for uids, from /etc/passwd, cached and re-read at most every
//! few seconds when an unknown uid shows up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Users {
    names: HashMap<u32, String>,
    loaded: Option<Instant>,
}

const RELOAD_AFTER: Duration = Duration::from_secs(5);

impl Users {
    pub fn new() -> Self {
        let mut u = Users {
            names: HashMap::new(),
            loaded: None,
        };
        u.reload();
        u
    }

    fn reload(&mut self) {
        self.names = parse_passwd(&std::fs::read_to_string("/etc/passwd").unwrap_or_default());
        self.loaded = Some(Instant::now());
    }

    pub fn name(&mut self, uid: u32) -> String {
        if uid == u32::MAX {
            return String::new();
        }
        if !self.names.contains_key(&uid) && self.loaded.is_none_or(|t| t.elapsed() > RELOAD_AFTER) {
            self.reload();
        }
        self.names.get(&uid).cloned().unwrap_or_default()
    }
}

impl Default for Users {
    fn default() -> Self {
        Self::new()
    }
}

/// uid -> name from the text of a passwd file; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>() {
            out.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_passwd() {
        let m = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(m.len(), 2);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_passwd(&s);
        }
    }
}
