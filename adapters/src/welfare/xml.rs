//! Reading an iWmo document into a small flat tree, with hard limits; writing one by hand.
//!
//! The reader refuses any DOCTYPE (so no DTD, no entity declarations, no external entities:
//! only the five predefined entities and character references are ever expanded), bounds the
//! input size, the nesting depth, the number of elements and the length of each text, and
//! resolves namespaces with quick-xml's `NsReader`. The tree keeps local names (borrowed from
//! the input), a namespace class and the element's text; nothing else of the input survives.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::codes::{MessageKind, BASIS_NS};
use crate::adapter::DecodeError;

/// The largest document accepted.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// The deepest nesting accepted (iWmo messages nest 6 deep).
pub const MAX_DEPTH: usize = 32;
/// The most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 20_000;
/// The longest text of one element, in bytes after unescaping.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Which namespace an element is in, relative to the message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ns {
    /// The message's own namespace (e.g. `.../wmo315/schema`).
    Msg,
    /// The basisschema namespace (children of the `CDT_` types).
    Basis,
    /// Anything else (never looked up).
    Other,
}

#[derive(Debug)]
pub struct Node<'a> {
    pub name: &'a str,
    pub ns: Ns,
    /// One past the index of the last descendant.
    pub end: usize,
    pub text: Option<Cow<'a, str>>,
}

/// A parsed document: its message kind (from the root's namespace) and its elements in
/// document order; index 0 is the root.
#[derive(Debug)]
pub struct Doc<'a> {
    pub kind: MessageKind,
    pub nodes: Vec<Node<'a>>,
}

impl<'a> Doc<'a> {
    /// The direct children of element `i`.
    pub fn children(&self, i: usize) -> Children<'_, 'a> {
        let end = self.nodes.get(i).map_or(0, |n| n.end);
        Children {
            doc: self,
            next: i + 1,
            end,
        }
    }

    /// The first child of `i` named `name` in namespace `ns`.
    pub fn child(&self, i: usize, ns: Ns, name: &str) -> Option<usize> {
        self.children(i).find(|&c| self.is(c, ns, name))
    }

    pub fn is(&self, i: usize, ns: Ns, name: &str) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| n.ns == ns && n.name == name)
    }

    /// The element's text, trimmed ("" when it has none).
    pub fn text(&self, i: usize) -> &str {
        self.nodes
            .get(i)
            .and_then(|n| n.text.as_deref())
            .map_or("", str::trim)
    }
}

pub struct Children<'d, 'a> {
    doc: &'d Doc<'a>,
    next: usize,
    end: usize,
}

impl Iterator for Children<'_, '_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next = self.doc.nodes.get(i).map_or(self.end, |n| n.end.max(i + 1));
        Some(i)
    }
}

fn path_of(nodes: &[Node<'_>], stack: &[usize]) -> String {
    let mut p = String::new();
    for &i in stack {
        p.push('/');
        p.push_str(nodes.get(i).map_or("?", |n| n.name));
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

fn not_well_formed(e: impl std::fmt::Display) -> DecodeError {
    // quick-xml's messages name positions and markup, not text content.
    DecodeError::document(format!("not well-formed XML: {e}"))
}

/// `part` (a slice quick-xml handed out of `input`) as a `&str` borrowed from `input`.
fn borrow_from<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let off = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let s = input.get(off..off.checked_add(part.len())?)?;
    (s.as_bytes() == part).then_some(s)
}

/// Parses `input` into a [`Doc`], refusing everything the module docs list.
pub fn parse(input: &[u8]) -> Result<Doc<'_>, DecodeError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(DecodeError::document(format!(
            "document must be at most {MAX_INPUT_BYTES} bytes"
        )));
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        DecodeError::document(format!(
            "must be UTF-8 (invalid byte sequence at byte {})",
            e.valid_up_to()
        ))
    })?;

    let mut reader = NsReader::from_reader(text.as_bytes());
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.expand_empty_elements = false;
        cfg.trim_text(true);
    }

    let mut nodes: Vec<Node<'_>> = Vec::with_capacity(64);
    let mut stack: Vec<usize> = Vec::with_capacity(16);
    let mut kind: Option<MessageKind> = None;
    let mut root_ns: &'static str = "";
    let mut root_done = false;

    loop {
        // Namespaces are resolved only for element starts: end tags are checked against
        // their start by the reader, and text has no namespace.
        let event = reader.read_event().map_err(not_well_formed)?;
        match event {
            Event::DocType(_) => {
                return Err(DecodeError::document(
                    "DOCTYPE declarations are not accepted (no DTD, no entity declarations)",
                ));
            }
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(DecodeError::document(
                            "must be UTF-8 (the XML declaration names another encoding)",
                        ));
                    }
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                if root_done {
                    return Err(DecodeError::document(
                        "not well-formed XML: more than one root element",
                    ));
                }
                for a in e.attributes() {
                    a.map_err(not_well_formed)?;
                }
                let (ns, _) = reader.resolve_element(e.name());
                let ns_class = match &ns {
                    ResolveResult::Bound(n)
                        if !root_ns.is_empty() && n.as_ref() == root_ns.as_bytes() =>
                    {
                        Ns::Msg
                    }
                    ResolveResult::Bound(n) if n.as_ref() == BASIS_NS.as_bytes() => Ns::Basis,
                    _ => Ns::Other,
                };
                let root_kind = match (&ns, kind) {
                    (ResolveResult::Bound(n), None) => MessageKind::from_namespace(n.as_ref()),
                    _ => None,
                };
                if stack.len() >= MAX_DEPTH {
                    return Err(DecodeError::at_xml(
                        path_of(&nodes, &stack),
                        format!("must not nest elements more than {MAX_DEPTH} deep"),
                    ));
                }
                if nodes.len() >= MAX_ELEMENTS {
                    return Err(DecodeError::document(format!(
                        "must not have more than {MAX_ELEMENTS} elements"
                    )));
                }
                let name = borrow_from(text, e.local_name().into_inner()).unwrap_or("?");
                let ns_class = if nodes.is_empty() {
                    // The root decides the message kind and so the message namespace.
                    let k = root_kind.ok_or_else(|| {
                        DecodeError::at_xml(
                            format!("/{name}"),
                            format!(
                                "root element must be Bericht in one of the iWmo 3.2 message namespaces: {}",
                                MessageKind::accepted_namespaces()
                            ),
                        )
                    })?;
                    if name != "Bericht" {
                        return Err(DecodeError::at_xml(
                            format!("/{name}"),
                            "root element must be Bericht",
                        ));
                    }
                    k.check_handled()?;
                    kind = Some(k);
                    root_ns = k.namespace();
                    Ns::Msg
                } else {
                    ns_class
                };
                let idx = nodes.len();
                nodes.push(Node {
                    name,
                    ns: ns_class,
                    end: idx + 1,
                    text: None,
                });
                if is_empty {
                    if stack.is_empty() {
                        root_done = true;
                    }
                } else {
                    stack.push(idx);
                }
            }
            Event::End(_) => {
                let Some(idx) = stack.pop() else {
                    return Err(DecodeError::document(
                        "not well-formed XML: end tag without start tag",
                    ));
                };
                let end = nodes.len();
                if let Some(n) = nodes.get_mut(idx) {
                    n.end = end;
                }
                if stack.is_empty() {
                    root_done = true;
                }
            }
            Event::Text(t) => {
                // Text is trimmed by the reader (whitespace-only text between elements never
                // reaches here). The input is known UTF-8, so text without `&` is borrowed
                // as is; only text with references goes through unescaping.
                let raw: &[u8] = &t;
                let s = match borrow_from(text, raw) {
                    Some(s) if !s.contains('&') => Cow::Borrowed(s),
                    _ => t.unescape().map_err(|e| {
                        DecodeError::at_xml(
                            path_of(&nodes, &stack),
                            format!("not well-formed XML text: {e}"),
                        )
                    })?,
                };
                add_text(&mut nodes, &stack, s)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(not_well_formed)?;
                if stack.is_empty() {
                    return Err(DecodeError::document(
                        "not well-formed XML: CDATA outside the root element",
                    ));
                }
                add_text(&mut nodes, &stack, s)?;
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DecodeError::document(
            "not well-formed XML: the document ends inside an element",
        ));
    }
    match kind {
        Some(kind) => Ok(Doc { kind, nodes }),
        None => Err(DecodeError::document(
            "not an XML document: no root element",
        )),
    }
}

fn add_text<'a>(
    nodes: &mut [Node<'a>],
    stack: &[usize],
    s: Cow<'a, str>,
) -> Result<(), DecodeError> {
    let Some(&top) = stack.last() else {
        if s.trim().is_empty() {
            return Ok(());
        }
        return Err(DecodeError::document(
            "not well-formed XML: text outside the root element",
        ));
    };
    let too_long = || {
        DecodeError::at_xml(
            path_of(nodes, stack),
            format!("text must be at most {MAX_TEXT_BYTES} bytes"),
        )
    };
    if s.len() > MAX_TEXT_BYTES {
        return Err(too_long());
    }
    let current_len = nodes
        .get(top)
        .and_then(|n| n.text.as_ref())
        .map_or(0, |t| t.len());
    if current_len + s.len() > MAX_TEXT_BYTES {
        return Err(too_long());
    }
    if let Some(n) = nodes.get_mut(top) {
        match &mut n.text {
            None => n.text = Some(s),
            Some(t) => t.to_mut().push_str(&s),
        }
    }
    Ok(())
}

// ---- writing ------------------------------------------------------------------------------

/// Appends `s` escaped for element content. `\r` is written as a character reference so it
/// survives end-of-line normalisation.
pub fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(s.get(last..i).unwrap_or(""));
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(s.get(last..).unwrap_or(""));
}

/// A tiny writer for one iWmo message: message elements get the message prefix (`wmo315:`),
/// basisschema elements the `iwmo:` prefix.
pub struct Writer {
    pub out: String,
    prefix: &'static str,
}

impl Writer {
    pub fn new(kind: MessageKind) -> Self {
        let prefix = kind.prefix();
        let mut out = String::with_capacity(2048);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(prefix);
        out.push_str(":Bericht xmlns:iwmo=\"");
        out.push_str(BASIS_NS);
        out.push_str("\" xmlns:");
        out.push_str(prefix);
        out.push_str("=\"");
        out.push_str(kind.namespace());
        out.push_str("\">");
        Self { out, prefix }
    }

    fn tag(&mut self, close: bool, basis: bool, name: &str) {
        self.out.push('<');
        if close {
            self.out.push('/');
        }
        self.out.push_str(if basis { "iwmo" } else { self.prefix });
        self.out.push(':');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Opens a message element.
    pub fn open(&mut self, name: &str) {
        self.tag(false, false, name);
    }

    pub fn close(&mut self, name: &str) {
        self.tag(true, false, name);
    }

    /// A message element with text.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.tag(false, false, name);
        escape_into(&mut self.out, text);
        self.tag(true, false, name);
    }

    /// A basisschema element with text.
    pub fn bleaf(&mut self, name: &str, text: &str) {
        self.tag(false, true, name);
        escape_into(&mut self.out, text);
        self.tag(true, true, name);
    }

    pub fn bopen(&mut self, name: &str) {
        self.tag(false, true, name);
    }

    pub fn bclose(&mut self, name: &str) {
        self.tag(true, true, name);
    }

    /// A message element with formatted text that needs no escaping (dates, numbers, codes).
    pub fn leaf_fmt(&mut self, name: &str, args: std::fmt::Arguments<'_>) {
        self.tag(false, false, name);
        let _ = self.out.write_fmt(args);
        self.tag(true, false, name);
    }

    pub fn bleaf_fmt(&mut self, name: &str, args: std::fmt::Arguments<'_>) {
        self.tag(false, true, name);
        let _ = self.out.write_fmt(args);
        self.tag(true, true, name);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push_str("</");
        self.out.push_str(self.prefix);
        self.out.push_str(":Bericht>\n");
        self.out.into_bytes()
    }
}
