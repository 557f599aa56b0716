//! Walking a `serde_json::Value` with JSON-pointer locations that cost nothing until an error
//! needs one, and collecting every problem found rather than stopping at the first.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::adapter::DecodeError;

/// A JSON value borrowing its strings from the input where it can (no escapes), with objects
/// as vectors of pairs: parsing it allocates one vector per object or array and nothing per
/// key, which is most of the cost of a `serde_json::Value`. serde_json's recursion limit (128)
/// applies while it is built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Map<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

/// A JSON object: its members in document order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Map<'a>(Vec<(Cow<'a, str>, Value<'a>)>);

impl<'a> Map<'a> {
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }

    /// The member's value (the last one, as serde_json keeps, if a key is repeated).
    pub(crate) fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'a> Value<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&Vec<Value<'a>>> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&Map<'a>> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.as_object().and_then(|o| o.get(key))
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(Num::PosInt(n)) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(Num::PosInt(n)) => i64::try_from(*n).ok(),
            Self::Number(Num::NegInt(n)) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(Num::PosInt(n)) => Some(*n as f64),
            Self::Number(Num::NegInt(n)) => Some(*n as f64),
            Self::Number(Num::Float(f)) => Some(*f),
            _ => None,
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Num::PosInt(n)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(if n < 0 {
            Num::NegInt(n)
        } else {
            Num::PosInt(n.unsigned_abs())
        }))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Num::Float(f)))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        // serde_json gives no size hint for maps; FHIR objects mostly have 2 to 10 members.
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some((k, x)) = map.next_entry::<Key<'de>, Value<'de>>()? {
            v.push((k.0, x));
        }
        Ok(Value::Object(Map(v)))
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// An object key, borrowed where it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// One step of a JSON pointer.
#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// A JSON pointer as a chain of borrowed steps: building one never allocates; it is rendered
/// (RFC 6901) only when an error is reported.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    pub(crate) fn idx(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    fn write(&self, out: &mut String) {
        if let Some(p) = self.parent {
            p.write(out);
        }
        match self.seg {
            Seg::Root => {}
            Seg::Key(k) => {
                out.push('/');
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Seg::Index(i) => {
                use fmt::Write;
                let _ = write!(out, "/{i}");
            }
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut s = String::with_capacity(48);
        self.write(&mut s);
        s
    }
}

/// The problems found in one record.
#[derive(Default, Debug)]
pub(crate) struct Errors(pub(crate) Vec<DecodeError>);

impl Errors {
    pub(crate) fn at(&mut self, path: &Path<'_>, rule: impl fmt::Display) {
        self.0.push(DecodeError::at_pointer(path.render(), rule));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A field's value; JSON `null` counts as absent.
pub(crate) fn get<'v>(obj: &'v Map<'v>, key: &str) -> Option<&'v Value<'v>> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The value as an object, or an error.
pub(crate) fn as_obj<'v>(e: &mut Errors, v: &'v Value<'v>, path: &Path<'_>) -> Option<&'v Map<'v>> {
    match v {
        Value::Object(o) => Some(o),
        _ => {
            e.at(path, "must be an object");
            None
        }
    }
}

/// An optional object field.
pub(crate) fn opt_obj<'v>(
    e: &mut Errors,
    obj: &'v Map<'v>,
    key: &str,
    at: &Path<'_>,
) -> Option<&'v Map<'v>> {
    let v = get(obj, key)?;
    as_obj(e, v, &at.key(key))
}

/// An optional string field (an error if present with another type or empty).
pub(crate) fn opt_str<'v>(
    e: &mut Errors,
    obj: &'v Map<'v>,
    key: &str,
    at: &Path<'_>,
) -> Option<&'v str> {
    match get(obj, key)? {
        Value::String(s) if s.trim().is_empty() => {
            e.at(&at.key(key), "must not be empty");
            None
        }
        Value::String(s) => Some(s.as_ref()),
        _ => {
            e.at(&at.key(key), "must be a string");
            None
        }
    }
}

/// A required string field.
pub(crate) fn req_str<'v>(
    e: &mut Errors,
    obj: &'v Map<'v>,
    key: &str,
    at: &Path<'_>,
    what: &str,
) -> Option<&'v str> {
    if get(obj, key).is_none() {
        e.at(&at.key(key), format_args!("required: {what}"));
        return None;
    }
    opt_str(e, obj, key, at)
}

/// An optional array field (an error and an empty slice if present with another type).
pub(crate) fn arr<'v>(
    e: &mut Errors,
    obj: &'v Map<'v>,
    key: &str,
    at: &Path<'_>,
) -> &'v [Value<'v>] {
    match get(obj, key) {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            e.at(&at.key(key), "must be an array");
            &[]
        }
    }
}

/// A string without the error bookkeeping (for optional lookups where a wrong type is
/// reported elsewhere or does not matter).
pub(crate) fn str_of<'v>(obj: &'v Map<'v>, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str)
}

/// The first `extension` entry of an element with the given url, and its index.
pub(crate) fn extension<'v>(obj: &'v Map<'v>, url: &str) -> Option<(usize, &'v Map<'v>)> {
    obj.get("extension")?
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(i, x)| {
            x.as_object()
                .filter(|o| str_of(o, "url") == Some(url))
                .map(|o| (i, o))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_render_and_escape() {
        let root = Path::ROOT;
        let a = root.key("entry");
        let b = a.idx(0);
        let c = b.key("a/b~c");
        assert_eq!(c.render(), "/entry/0/a~1b~0c");
        assert_eq!(root.render(), "");
    }
}
