//! Parser for Sigma detection conditions: identifiers, `and`, `or`, `not`,
//! parentheses, and `1 of` / `all of` / `N of` over `them` or name patterns.
//! Precedence: `not` > `and` > `or`.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    Sel(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `N of pattern` (`all` is `Quant::All`); pattern `them` means every selection.
    Of(Quant, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quant {
    All,
    AtLeast(usize),
}

/// Maximum nesting of parentheses and `not`, to bound recursion.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    LParen,
    RParen,
    Pipe,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                out.push(Token::LParen);
                chars.next();
            }
            ')' => {
                out.push(Token::RParen);
                chars.next();
            }
            '|' => {
                out.push(Token::Pipe);
                chars.next();
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(s[i..end].to_string()));
            }
            other => return Err(format!("unexpected character `{other}` at offset {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Token::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self, depth: usize) -> Result<Cond, String> {
        let mut items = vec![self.and(depth)?];
        while self.is_kw("or") {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::Or(vec![]))
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Cond, String> {
        let mut items = vec![self.unary(depth)?];
        while self.is_kw("and") {
            self.pos += 1;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::And(vec![]))
        } else {
            Cond::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Cond, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        match self.toks.get(self.pos).cloned() {
            None => Err("expected an identifier, found the end".into()),
            Some(Token::LParen) => {
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                if self.toks.get(self.pos) != Some(&Token::RParen) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::RParen) => Err("unexpected `)`".into()),
            Some(Token::Pipe) => {
                Err("aggregation expressions (`|`) are deprecated Sigma v1 syntax; use a correlation rule".into())
            }
            Some(Token::Word(w)) => {
                self.pos += 1;
                let lw = w.to_ascii_lowercase();
                if lw == "not" {
                    return Ok(Cond::Not(Box::new(self.unary(depth + 1)?)));
                }
                if matches!(lw.as_str(), "and" | "or" | "of") {
                    return Err(format!("unexpected `{w}`"));
                }
                if self.is_kw("of") {
                    let quant = if lw == "all" {
                        Quant::All
                    } else if lw == "any" {
                        Quant::AtLeast(1)
                    } else {
                        match lw.parse::<usize>() {
                            Ok(n) if n > 0 => Quant::AtLeast(n),
                            _ => return Err(format!("`{w} of`: expected `all`, `any` or a positive number")),
                        }
                    };
                    self.pos += 1;
                    let Some(pat) = self.peek_word().map(str::to_string) else {
                        return Err(format!("`{w} of` needs `them` or a selection name pattern"));
                    };
                    self.pos += 1;
                    return Ok(Cond::Of(quant, pat));
                }
                Ok(Cond::Sel(w))
            }
        }
    }
}

/// Parses a condition string.
pub(crate) fn parse(s: &str) -> Result<Cond, String> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let c = p.or(0)?;
    match p.toks.get(p.pos) {
        None => Ok(c),
        Some(Token::Pipe) => {
            Err("aggregation expressions (`|`) are deprecated Sigma v1 syntax; use a correlation rule".into())
        }
        Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
    }
}

/// Does `name` match a selection-name pattern (only `*` is special)?
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let c = parse("a or b and not c").unwrap();
        assert_eq!(
            c,
            Cond::Or(vec![
                Cond::Sel("a".into()),
                Cond::And(vec![Cond::Sel("b".into()), Cond::Not(Box::new(Cond::Sel("c".into())))])
            ])
        );
        let c = parse("selection and not 1 of filter_*").unwrap();
        assert_eq!(
            c,
            Cond::And(vec![
                Cond::Sel("selection".into()),
                Cond::Not(Box::new(Cond::Of(Quant::AtLeast(1), "filter_*".into())))
            ])
        );
    }

    #[test]
    fn errors() {
        assert!(parse("a and").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("a | count() > 5").is_err());
        assert!(parse(&"(".repeat(100)).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn globbing() {
        assert!(glob("sel*", "selection"));
        assert!(glob("*_main_*", "filter_main_x"));
        assert!(!glob("filter_*", "selection"));
        assert!(glob("them", "them"));
    }
}
