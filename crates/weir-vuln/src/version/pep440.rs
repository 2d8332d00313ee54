//! Python package version order (PEP 440): epochs, release, pre/post/dev releases and local versions.

use std::cmp::Ordering;
use std::fmt;

use super::num::Num;
use super::VersionError;

/// Pre-release phase; `a` < `b` < `rc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrePhase {
    Alpha,
    Beta,
    Rc,
}

/// One segment of a local version label: numbers sort after (above) strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalSegment {
    Str(String),
    Num(Num),
}

impl Ord for LocalSegment {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LocalSegment::Num(a), LocalSegment::Num(b)) => a.cmp(b),
            (LocalSegment::Str(a), LocalSegment::Str(b)) => a.cmp(b),
            (LocalSegment::Num(_), LocalSegment::Str(_)) => Ordering::Greater,
            (LocalSegment::Str(_), LocalSegment::Num(_)) => Ordering::Less,
        }
    }
}

impl PartialOrd for LocalSegment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A parsed PEP 440 version, normalised (spelling variants, implicit numbers, case).
#[derive(Clone, Debug)]
pub struct Pep440 {
    epoch: Num,
    release: Vec<Num>,
    pre: Option<(PrePhase, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Option<Vec<LocalSegment>>,
}

/// A byte cursor with backtracking for the optional parts of the grammar.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat_sep(&mut self) -> bool {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let w = word.as_bytes();
        if self.s.len() >= self.pos + w.len() && self.s[self.pos..self.pos + w.len()] == *w {
            self.pos += w.len();
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> Option<Num> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        Num::from_digits(std::str::from_utf8(&self.s[start..self.pos]).ok()?)
    }
}

impl Pep440 {
    /// Parses any version PEP 440 accepts, including its permitted spelling variations.
    pub fn parse(input: &str) -> Result<Pep440, VersionError> {
        let err = |reason: &str| VersionError::new("PyPI", input, reason);
        let lower = input.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            pos: 0,
        };
        if c.peek() == Some(b'v') {
            c.pos += 1;
        }
        let first = c.digits().ok_or_else(|| err("expected a release number"))?;
        let mut epoch = Num::zero();
        let mut release = vec![first];
        if c.peek() == Some(b'!') {
            c.pos += 1;
            epoch = release.pop().unwrap_or_default();
            release.push(
                c.digits()
                    .ok_or_else(|| err("expected a release number after the epoch"))?,
            );
        }
        loop {
            let save = c.pos;
            if c.peek() == Some(b'.') {
                c.pos += 1;
                if let Some(n) = c.digits() {
                    release.push(n);
                    continue;
                }
            }
            c.pos = save;
            break;
        }
        let pre = Self::parse_pre(&mut c);
        let post = Self::parse_post(&mut c);
        let dev = Self::parse_dev(&mut c);
        let mut local = None;
        if c.peek() == Some(b'+') {
            c.pos += 1;
            let rest = std::str::from_utf8(&c.s[c.pos..]).map_err(|_| err("invalid local version"))?;
            let mut segs = Vec::new();
            for part in rest.split(['.', '-', '_']) {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(err("invalid local version label"));
                }
                segs.push(match Num::from_digits(part) {
                    Some(n) => LocalSegment::Num(n),
                    None => LocalSegment::Str(part.to_string()),
                });
            }
            c.pos = c.s.len();
            local = Some(segs);
        }
        if c.pos != c.s.len() {
            return Err(err(&format!("unexpected text at byte {}", c.pos)));
        }
        Ok(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn parse_pre(c: &mut Cursor<'_>) -> Option<(PrePhase, Num)> {
        let save = c.pos;
        c.eat_sep();
        // Longest spellings first so that "alpha" is not read as "a" + garbage.
        let phase = [
            ("alpha", PrePhase::Alpha),
            ("a", PrePhase::Alpha),
            ("beta", PrePhase::Beta),
            ("b", PrePhase::Beta),
            ("preview", PrePhase::Rc),
            ("pre", PrePhase::Rc),
            ("rc", PrePhase::Rc),
            ("c", PrePhase::Rc),
        ]
        .into_iter()
        .find_map(|(w, p)| c.eat_word(w).then_some(p));
        let Some(phase) = phase else {
            c.pos = save;
            return None;
        };
        // As in the reference grammar, a separator after the word is consumed even with no number.
        c.eat_sep();
        match c.digits() {
            Some(n) => Some((phase, n)),
            None => Some((phase, Num::zero())),
        }
    }

    fn parse_post(c: &mut Cursor<'_>) -> Option<Num> {
        let save = c.pos;
        if c.peek() == Some(b'-') {
            c.pos += 1;
            if let Some(n) = c.digits() {
                return Some(n);
            }
            c.pos = save;
        }
        c.eat_sep();
        if !(c.eat_word("post") || c.eat_word("rev") || c.eat_word("r")) {
            c.pos = save;
            return None;
        }
        // As in the reference grammar, a separator after the word is consumed even with no number.
        c.eat_sep();
        match c.digits() {
            Some(n) => Some(n),
            None => Some(Num::zero()),
        }
    }

    fn parse_dev(c: &mut Cursor<'_>) -> Option<Num> {
        let save = c.pos;
        c.eat_sep();
        if !c.eat_word("dev") {
            c.pos = save;
            return None;
        }
        // As in the reference grammar, a separator after the word is consumed even with no number.
        c.eat_sep();
        match c.digits() {
            Some(n) => Some(n),
            None => Some(Num::zero()),
        }
    }

    /// True for pre-releases and dev releases.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    fn release_trimmed(&self) -> &[Num] {
        let mut end = self.release.len();
        while end > 0 && self.release[end - 1].is_zero() {
            end -= 1;
        }
        &self.release[..end]
    }
}

/// Sort key for the pre-release part (packaging's `_cmpkey`): a dev-only release sorts before any pre-release.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum PreKey<'a> {
    DevOnly,
    Pre(&'a (PrePhase, Num)),
    Final,
}

fn pre_key(v: &Pep440) -> PreKey<'_> {
    match (&v.pre, &v.post, &v.dev) {
        (None, None, Some(_)) => PreKey::DevOnly,
        (Some(p), _, _) => PreKey::Pre(p),
        (None, _, _) => PreKey::Final,
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        // None sorts first for post and local, last for dev.
        let dev_key = |v: &Pep440| (v.dev.is_none(), v.dev.clone());
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.release_trimmed().cmp(other.release_trimmed()))
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| dev_key(self).cmp(&dev_key(other)))
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pep440 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pep440 {}

impl fmt::Display for Pep440 {
    /// The normalised form, e.g. `1!2.0rc1.post0.dev3+ubuntu.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.epoch.is_zero() {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(|n| n.to_string()).collect();
        f.write_str(&release.join("."))?;
        if let Some((phase, n)) = &self.pre {
            let p = match phase {
                PrePhase::Alpha => "a",
                PrePhase::Beta => "b",
                PrePhase::Rc => "rc",
            };
            write!(f, "{p}{n}")?;
        }
        if let Some(n) = &self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = &self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(local) = &self.local {
            let segs: Vec<String> = local
                .iter()
                .map(|s| match s {
                    LocalSegment::Num(n) => n.to_string(),
                    LocalSegment::Str(s) => s.clone(),
                })
                .collect();
            write!(f, "+{}", segs.join("."))?;
        }
        Ok(())
    }
}
