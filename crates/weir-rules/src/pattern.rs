//! Sigma string values: wildcard parsing (`*`, `?`, `\` escapes), the
//! value-transforming modifiers (base64, base64offset, utf16/wide,
//! windash) and the reduction of a pattern to the cheapest test: a literal
//! (exact, prefix, suffix, substring) or, failing that, an anchored regex.

use base64::Engine;

/// One piece of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    Many,
    One,
}

/// Where a literal must occur in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// The cheapest test for a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    Literal(String, Anchor),
    /// Anchored regex source (without case flag).
    Regex(String),
}

/// Splits a Sigma string into literal runs and wildcards. A backslash
/// escapes `*`, `?` and itself; any other backslash is literal.
pub(crate) fn parse_wildcards(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Tok::Many } else { Tok::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Tok::Lit(lit));
    }
    out
}

/// Adds the wildcards a contains/startswith/endswith modifier implies and
/// reduces the pattern to a literal test where possible.
pub(crate) fn to_test(mut toks: Vec<Tok>, anchor: Anchor) -> Test {
    if matches!(anchor, Anchor::Contains | Anchor::Suffix) && toks.first() != Some(&Tok::Many) {
        toks.insert(0, Tok::Many);
    }
    if matches!(anchor, Anchor::Contains | Anchor::Prefix) && toks.last() != Some(&Tok::Many) {
        toks.push(Tok::Many);
    }
    // Collapse runs of `*`.
    toks.dedup_by(|a, b| *a == Tok::Many && *b == Tok::Many);
    let lead = toks.first() == Some(&Tok::Many);
    let trail = toks.len() > 1 && toks.last() == Some(&Tok::Many);
    let core = &toks[usize::from(lead)..toks.len() - usize::from(trail)];
    match core {
        [] if lead => Test::Regex("(?s)^.*$".into()),
        [] => Test::Literal(String::new(), Anchor::Exact),
        [Tok::Lit(s)] => {
            let a = match (lead, trail) {
                (false, false) => Anchor::Exact,
                (false, true) => Anchor::Prefix,
                (true, false) => Anchor::Suffix,
                (true, true) => Anchor::Contains,
            };
            Test::Literal(s.clone(), a)
        }
        _ => {
            let mut re = String::from("(?s)^");
            for t in &toks {
                match t {
                    Tok::Lit(s) => re.push_str(&regex::escape(s)),
                    Tok::Many => re.push_str(".*"),
                    Tok::One => re.push('.'),
                }
            }
            re.push('$');
            Test::Regex(re)
        }
    }
}

/// Byte encodings applied before base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf16Le,
    Utf16Be,
}

pub(crate) fn encode(s: &[u8], enc: Encoding) -> Vec<u8> {
    let text = String::from_utf8_lossy(s);
    let mut out = Vec::with_capacity(s.len() * 2);
    for unit in text.encode_utf16() {
        match enc {
            Encoding::Utf16Le => out.extend_from_slice(&unit.to_le_bytes()),
            Encoding::Utf16Be => out.extend_from_slice(&unit.to_be_bytes()),
        }
    }
    out
}

pub(crate) fn base64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The three base64 renderings of `s` at byte offsets 0, 1 and 2, with the
/// characters that depend on surrounding bytes removed (Sigma
/// `base64offset`).
pub(crate) fn base64_offsets(s: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    let mut out = Vec::with_capacity(3);
    for i in 0..3 {
        let mut buf = vec![b' '; i];
        buf.extend_from_slice(s);
        let enc = base64(&buf);
        let end = enc.len().saturating_sub(END[(s.len() + i) % 3]);
        let start = START[i].min(end);
        out.push(enc[start..end].to_string());
    }
    out
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
/// Upper bound on windash variants of one value.
const MAX_WINDASH: usize = 256;

/// Every variant of `s` with each option-introducing `-` or `/` (at the
/// start or after whitespace) replaced by the dashes Windows accepts.
pub(crate) fn windash(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let positions: Vec<usize> = (0..chars.len())
        .filter(|&i| matches!(chars[i], '-' | '/') && (i == 0 || chars[i - 1].is_whitespace()))
        .collect();
    let mut out = vec![chars.clone()];
    for &p in &positions {
        let mut next = Vec::with_capacity(out.len() * DASHES.len());
        for v in &out {
            for d in DASHES {
                let mut v2 = v.clone();
                v2[p] = d;
                next.push(v2);
                if next.len() >= MAX_WINDASH {
                    break;
                }
            }
        }
        out = next;
    }
    let mut res: Vec<String> = out.into_iter().map(|v| v.into_iter().collect()).collect();
    res.sort();
    res.dedup();
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_reduce_to_literals() {
        assert_eq!(
            to_test(parse_wildcards("*\\cmd.exe"), Anchor::Exact),
            Test::Literal("\\cmd.exe".into(), Anchor::Suffix)
        );
        assert_eq!(
            to_test(parse_wildcards("abc"), Anchor::Contains),
            Test::Literal("abc".into(), Anchor::Contains)
        );
        assert_eq!(
            to_test(parse_wildcards("a\\*b"), Anchor::Exact),
            Test::Literal("a*b".into(), Anchor::Exact)
        );
        assert_eq!(
            to_test(parse_wildcards("a*b"), Anchor::Exact),
            Test::Regex("(?s)^a.*b$".into())
        );
        assert_eq!(
            to_test(parse_wildcards("a?"), Anchor::Prefix),
            Test::Regex("(?s)^a..*$".into())
        );
    }

    #[test]
    fn base64offset_matches_pysigma_reference() {
        // Offsets 0, 1 and 2 of "/bin/bash", worked out by hand from the base64 alphabet.
        let v = base64_offsets(b"/bin/bash");
        assert_eq!(v, vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
    }

    #[test]
    fn windash_variants() {
        let v = windash("-enc ");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"/enc ".to_string()));
        assert!(v.contains(&"\u{2013}enc ".to_string()));
        assert_eq!(windash("a-b"), vec!["a-b".to_string()]);
    }
}
