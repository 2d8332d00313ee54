//! Finds the acting person of an event from its ECS fields: the login uid
//! (`user.login_id`, the kernel's loginuid, kept across su/sudo) and the
//! login name the sensor resolved for it (`user.login`).

use serde_json::{Map, Value};

use crate::directory::{Directory, Person};

/// The login name and uid an event carries, if any.
pub fn login_of(fields: &Map<String, Value>) -> (Option<&str>, Option<u32>) {
    let uid = fields.get("user.login_id").and_then(|v| match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    // When the sensor could not name the login it puts the uid there as text: not a name.
    let name = fields
        .get("user.login")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty() && !name.bytes().all(|b| b.is_ascii_digit()));
    (name, uid)
}

/// The person who acted in an event, per the directory.
pub fn actor_of<'d>(directory: &'d Directory, fields: &Map<String, Value>) -> Option<&'d Person> {
    let (name, uid) = login_of(fields);
    directory.person_for(name, uid)
}
