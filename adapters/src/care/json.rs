//! Walking a `serde_json::Value` with JSON-pointer locations that cost nothing until an error
//! needs one, and collecting every problem found rather than stopping at the first.

use std::fmt;

use serde_json::{Map, Value};

use crate::adapter::DecodeError;

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
pub(crate) fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The value as an object, or an error.
pub(crate) fn as_obj<'v>(
    e: &mut Errors,
    v: &'v Value,
    path: &Path<'_>,
) -> Option<&'v Map<String, Value>> {
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
    obj: &'v Map<String, Value>,
    key: &str,
    at: &Path<'_>,
) -> Option<&'v Map<String, Value>> {
    let v = get(obj, key)?;
    as_obj(e, v, &at.key(key))
}

/// An optional string field (an error if present with another type or empty).
pub(crate) fn opt_str<'v>(
    e: &mut Errors,
    obj: &'v Map<String, Value>,
    key: &str,
    at: &Path<'_>,
) -> Option<&'v str> {
    match get(obj, key)? {
        Value::String(s) if s.trim().is_empty() => {
            e.at(&at.key(key), "must not be empty");
            None
        }
        Value::String(s) => Some(s),
        _ => {
            e.at(&at.key(key), "must be a string");
            None
        }
    }
}

/// A required string field.
pub(crate) fn req_str<'v>(
    e: &mut Errors,
    obj: &'v Map<String, Value>,
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
    obj: &'v Map<String, Value>,
    key: &str,
    at: &Path<'_>,
) -> &'v [Value] {
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
pub(crate) fn str_of<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str)
}

/// The first `extension` entry of an element with the given url, and its index.
pub(crate) fn extension<'v>(
    obj: &'v Map<String, Value>,
    url: &str,
) -> Option<(usize, &'v Map<String, Value>)> {
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
