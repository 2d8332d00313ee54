//! Field access for the matcher: the `Fields` trait, the value shape it
//! returns, and its implementation for JSON objects (with evtx-style nested
//! events flattened: `Event.EventData.*`, `Event.System.*` and
//! `Event.UserData.<element>.*` are reachable by their bare names, and dotted names walk nested objects).

use serde_json::{Map, Value};

/// One field value as the matcher sees it. Borrowed; never allocated.
#[derive(Debug, Clone, Copy)]
pub enum FieldValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    /// A list: a rule value matches when any element matches.
    List(&'a [Value]),
    /// A nested object: only `exists`/null checks apply.
    Object,
}

impl<'a> FieldValue<'a> {
    /// Converts a JSON value without allocating.
    pub fn from_json(v: &'a Value) -> FieldValue<'a> {
        match v {
            Value::Null => FieldValue::Null,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    FieldValue::Int(i)
                } else if let Some(u) = n.as_u64() {
                    FieldValue::UInt(u)
                } else {
                    FieldValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => FieldValue::Str(s),
            Value::Array(a) => FieldValue::List(a),
            Value::Object(_) => FieldValue::Object,
        }
    }

    /// The numeric value, if it is a number or a string holding one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::Int(i) => Some(i as f64),
            FieldValue::UInt(u) => Some(u as f64),
            FieldValue::Float(f) => Some(f),
            FieldValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// What an event says it is, for routing rules by logsource. A rule is
/// skipped when it sets a dimension the event also sets, to another value;
/// `None` means the event does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventSource<'a> {
    pub product: Option<&'a str>,
    pub category: Option<&'a str>,
    pub service: Option<&'a str>,
}

/// Read access to an event's fields by (Sigma) name.
pub trait Fields {
    /// The value of `name`, or `None` if the event does not have it.
    fn get(&self, name: &str) -> Option<FieldValue<'_>>;
    /// The logsource the event belongs to, when it says; `None` means
    /// "unknown": every rule whose fields the event has is tried.
    fn source(&self) -> Option<EventSource<'_>> {
        None
    }
    /// Calls `f` on every leaf value (for keyword selections).
    fn for_each_value(&self, f: &mut dyn FnMut(FieldValue<'_>));
}

/// Looks up `name` in a JSON object: direct key, then dotted path through
/// nested objects, then the evtx sections `Event.EventData` and `Event.System`.
pub fn json_lookup<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(name) {
        return Some(v);
    }
    if name.contains('.') {
        let mut cur = map;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            let v = cur.get(part)?;
            if parts.peek().is_none() {
                return Some(v);
            }
            cur = v.as_object()?;
        }
    }
    let event = map.get("Event")?.as_object()?;
    for section in ["EventData", "System"] {
        if let Some(v) = event.get(section).and_then(Value::as_object).and_then(|o| o.get(name)) {
            return Some(v);
        }
    }
    // UserData wraps its fields in one provider-specific element.
    let user = event.get("UserData")?.as_object()?;
    user.get(name)
        .or_else(|| user.values().filter_map(Value::as_object).find_map(|o| o.get(name)))
}

fn walk_values(v: &Value, f: &mut dyn FnMut(FieldValue<'_>)) {
    match v {
        Value::Object(m) => m.values().for_each(|v| walk_values(v, f)),
        Value::Array(a) => a.iter().for_each(|v| walk_values(v, f)),
        other => f(FieldValue::from_json(other)),
    }
}

impl Fields for Map<String, Value> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        json_lookup(self, name).map(FieldValue::from_json)
    }

    fn for_each_value(&self, f: &mut dyn FnMut(FieldValue<'_>)) {
        self.values().for_each(|v| walk_values(v, f));
    }
}

/// A JSON event that declares its logsource (used by tests and `weir rules
/// match` when the caller knows what the events are).
pub struct SourcedJson<'a> {
    pub map: &'a Map<String, Value>,
    pub source: EventSource<'a>,
}

impl Fields for SourcedJson<'_> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        Fields::get(self.map, name)
    }
    fn source(&self) -> Option<EventSource<'_>> {
        Some(self.source)
    }
    fn for_each_value(&self, f: &mut dyn FnMut(FieldValue<'_>)) {
        self.map.for_each_value(f)
    }
}
