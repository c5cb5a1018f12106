//! A writer for XML that is already in exclusive canonical form (W3C xml-exc-c14n, without comments).
//!
//! We sign only XML that this writer produced, so the bytes we hash are the bytes we ship: every element is written
//! with its attributes sorted as c14n sorts them, with explicit end tags, no insignificant white space, and with
//! text and attribute values escaped exactly as c14n escapes them. Namespace declarations are placed on the
//! outermost element that uses them and never repeated by a descendant, so a subtree canonicalised on its own
//! renders the same bytes as it does inside the document.
//!
//! Invariant: nothing outside this module writes XML that is signed; every value goes through `escape_*`.

/// Escapes character data as exclusive c14n renders it (c14n §2.3 "Text Nodes").
///
/// Characters that XML 1.0 forbids (most C0 controls, lone surrogates cannot occur in `str`) are replaced by
/// U+FFFD, so no input can produce a document that a parser refuses.
pub fn escape_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Escapes an attribute value as exclusive c14n renders it (c14n §2.3 "Attribute Nodes").
pub fn escape_attr(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// Whether `c` may appear in an XML 1.0 document (XML 1.0 §2.2 production `Char`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Builds canonical XML into a string.
#[derive(Debug, Default)]
pub struct CanonicalWriter {
    buf: String,
}

impl CanonicalWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens `name` with namespace declarations `ns` (prefix, uri) and attributes `attrs` (unqualified names).
    /// Both lists are sorted here as c14n requires, so callers may pass them in any order.
    pub fn open(&mut self, name: &str, ns: &[(&str, &str)], attrs: &[(&str, &str)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        let mut ns: Vec<&(&str, &str)> = ns.iter().collect();
        ns.sort_by(|a, b| a.0.cmp(b.0));
        for (prefix, uri) in ns {
            if prefix.is_empty() {
                self.buf.push_str(" xmlns=\"");
            } else {
                self.buf.push_str(" xmlns:");
                self.buf.push_str(prefix);
                self.buf.push_str("=\"");
            }
            escape_attr(&mut self.buf, uri);
            self.buf.push('"');
        }
        let mut attrs: Vec<&(&str, &str)> = attrs.iter().collect();
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in attrs {
            self.buf.push(' ');
            self.buf.push_str(key);
            self.buf.push_str("=\"");
            escape_attr(&mut self.buf, value);
            self.buf.push('"');
        }
        self.buf.push('>');
    }

    pub fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    pub fn text(&mut self, value: &str) {
        escape_text(&mut self.buf, value);
    }

    /// An element holding only text.
    pub fn leaf(&mut self, name: &str, ns: &[(&str, &str)], attrs: &[(&str, &str)], text: &str) {
        self.open(name, ns, attrs);
        self.text(text);
        self.close(name);
    }

    /// An element with no content, written with an explicit end tag as c14n does.
    pub fn empty(&mut self, name: &str, ns: &[(&str, &str)], attrs: &[(&str, &str)]) {
        self.open(name, ns, attrs);
        self.close(name);
    }

    /// Appends XML that is already canonical (an element this module produced earlier).
    pub fn raw(&mut self, canonical: &str) {
        self.buf.push_str(canonical);
    }

    /// Where the next byte will go; used to remember where an enveloped signature belongs.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(input: &str) -> String {
        let mut out = String::new();
        escape_text(&mut out, input);
        out
    }

    fn attr(input: &str) -> String {
        let mut out = String::new();
        escape_attr(&mut out, input);
        out
    }

    #[test]
    fn escapes_markup_in_text() {
        assert_eq!(text("Tom & Jerry <b>x</b>"), "Tom &amp; Jerry &lt;b&gt;x&lt;/b&gt;");
        assert_eq!(text("a\r\nb\"'"), "a&#xD;\nb\"'");
    }

    #[test]
    fn escapes_attribute_values_like_c14n() {
        assert_eq!(attr("a\"b<c>&\t\n\r"), "a&quot;b&lt;c>&amp;&#x9;&#xA;&#xD;");
    }

    #[test]
    fn replaces_characters_xml_forbids() {
        assert_eq!(text("a\u{1}b\u{FFFF}"), "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn sorts_namespaces_then_attributes() {
        let mut w = CanonicalWriter::new();
        w.empty("p:E", &[("p", "urn:p"), ("", "urn:d")], &[("b", "2"), ("ID", "x"), ("a", "1")]);
        assert_eq!(w.finish(), r#"<p:E xmlns="urn:d" xmlns:p="urn:p" ID="x" a="1" b="2"></p:E>"#);
    }
}
