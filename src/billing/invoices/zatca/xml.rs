//! A small XML tree written directly in canonical form (C14N 1.1 for a document without
//! `xml:*` attributes): attributes sorted, namespace declarations first and sorted, every
//! element with a start and an end tag, C14N's escaping, no whitespace between elements.
//! A document written this way hashes the same as its canonicalisation, and removing an
//! element leaves no stray text, which is what ZATCA's invoice hash asks.

/// An element: its qualified name, namespace declarations, attributes and content.
#[derive(Debug, Clone, Default)]
pub struct Element {
    name: &'static str,
    namespaces: Vec<(&'static str, &'static str)>,
    attributes: Vec<(&'static str, String)>,
    content: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// An element holding only text.
    pub fn text(name: &'static str, text: impl Into<String>) -> Self {
        Self::new(name).with_text(text)
    }

    /// Declares `prefix` (`""` for the default namespace) on this element.
    pub fn declare(mut self, prefix: &'static str, uri: &'static str) -> Self {
        self.namespaces.push((prefix, uri));
        self
    }

    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attributes.push((name, value.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.content.push(Node::Element(child));
        self
    }

    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.content.extend(children.into_iter().map(Node::Element));
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.content.push(Node::Text(text.into()));
        self
    }

    /// The canonical form of this element as the root of its own document.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, &[]);
        out
    }

    /// The canonical form of this element as a node-set of a larger document: C14N renders
    /// every namespace in scope (`inherited`, declared by its ancestors) on the apex element.
    pub fn canonical_in(&self, inherited: &[(&'static str, &'static str)]) -> String {
        let mut out = String::new();
        self.write(&mut out, inherited);
        out
    }

    fn write(&self, out: &mut String, inherited: &[(&'static str, &'static str)]) {
        let mut namespaces: Vec<(&str, &str)> = inherited.to_vec();
        for (prefix, uri) in &self.namespaces {
            namespaces.retain(|(known, _)| known != prefix);
            namespaces.push((prefix, uri));
        }
        // The default namespace ("") sorts first, then by prefix.
        namespaces.sort_by(|a, b| a.0.cmp(b.0));
        let mut attributes: Vec<&(&str, String)> = self.attributes.iter().collect();
        attributes.sort_by(|a, b| a.0.cmp(b.0));
        out.push('<');
        out.push_str(self.name);
        for (prefix, uri) in namespaces {
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                out.push_str("=\"");
            }
            escape_attribute(out, uri);
            out.push('"');
        }
        for (name, value) in attributes {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_attribute(out, value);
            out.push('"');
        }
        out.push('>');
        for node in &self.content {
            match node {
                Node::Element(element) => element.write(out, &[]),
                Node::Text(text) => escape_text(out, text),
            }
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }
}

/// C14N's text escaping.
fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// C14N's attribute escaping.
fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_canonical_form() {
        let doc = Element::new("a:root")
            .declare("a", "urn:a")
            .declare("", "urn:default")
            .attr("z", "1")
            .attr("b", "x\"<&\t")
            .child(Element::new("a:empty"))
            .child(Element::text("leaf", "1 < 2 & 3 > 2\r"));
        assert_eq!(
            doc.canonical(),
            "<a:root xmlns=\"urn:default\" xmlns:a=\"urn:a\" b=\"x&quot;&lt;&amp;&#x9;\" z=\"1\">\
             <a:empty></a:empty><leaf>1 &lt; 2 &amp; 3 &gt; 2&#xD;</leaf></a:root>"
        );
    }

    #[test]
    fn a_subtree_renders_the_namespaces_in_scope() {
        let inner = Element::new("x:inner")
            .declare("x", "urn:x")
            .child(Element::new("x:leaf"));
        assert_eq!(
            inner.canonical_in(&[("", "urn:d"), ("y", "urn:y")]),
            "<x:inner xmlns=\"urn:d\" xmlns:x=\"urn:x\" xmlns:y=\"urn:y\"><x:leaf></x:leaf></x:inner>"
        );
    }
}
