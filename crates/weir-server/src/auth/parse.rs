//! Parsers of what a browser or script sends: the `Cookie` header, an
//! `application/x-www-form-urlencoded` body, and the `Authorization: Bearer`
//! header. Bounded and total: any input gives a value or `None`, never a panic.

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "weir_session";

/// Largest form body read (login and CSRF-carrying forms are tiny).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Most fields looked at in one form or cookie header.
const MAX_FIELDS: usize = 64;

/// The value of cookie `name` in a `Cookie:` header value
/// (`a=1; weir_session=abc`), if present. The first occurrence wins.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .take(MAX_FIELDS)
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// The decoded value of field `name` in a urlencoded form body. The first
/// occurrence wins.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    if body.len() > MAX_FORM_BYTES {
        return None;
    }
    form_urlencoded::parse(body)
        .take(MAX_FIELDS)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The token of an `Authorization: Bearer <token>` header value (scheme
/// case-insensitive), trimmed; `None` for other schemes or an empty token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Whether a session id from a cookie looks like one we issue (64 lowercase
/// hex characters); anything else is not even looked up.
pub fn plausible_session_id(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        assert_eq!(cookie_value("a=1; weir_session=abc; b=2", SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value("weir_session=\"q\"", SESSION_COOKIE), Some("q"));
        assert_eq!(cookie_value("xweir_session=abc", SESSION_COOKIE), None);
        assert_eq!(cookie_value("", SESSION_COOKIE), None);
        assert_eq!(cookie_value("weir_session", SESSION_COOKIE), None);
    }

    #[test]
    fn forms() {
        let body = b"username=al%20ice&password=p%26w+d&csrf=1";
        assert_eq!(form_field(body, "username").as_deref(), Some("al ice"));
        assert_eq!(form_field(body, "password").as_deref(), Some("p&w d"));
        assert_eq!(form_field(body, "nope"), None);
        assert_eq!(form_field(&vec![b'a'; MAX_FORM_BYTES + 1], "a"), None);
    }

    #[test]
    fn bearer() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    proptest::proptest! {
        #[test]
        fn cookie_parser_never_panics(header in ".{0,300}", name in "[a-z_]{0,12}") {
            let _ = cookie_value(&header, &name);
            let _ = cookie_value(&header, SESSION_COOKIE);
        }

        #[test]
        fn form_parser_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = form_field(&body, "username");
            let _ = form_field(&body, "csrf");
        }

        #[test]
        fn form_round_trips(user in ".{0,40}", pass in ".{0,40}") {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("username", &user)
                .append_pair("password", &pass)
                .finish();
            proptest::prop_assert_eq!(form_field(body.as_bytes(), "username"), Some(user));
            proptest::prop_assert_eq!(form_field(body.as_bytes(), "password"), Some(pass));
        }

        #[test]
        fn bearer_parser_never_panics(header in ".{0,200}") {
            let _ = bearer_token(&header);
            let _ = plausible_session_id(&header);
        }
    }
}
