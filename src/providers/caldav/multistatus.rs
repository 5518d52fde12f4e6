//! The multistatus answer of a calendar-query: just enough XML for `response`, `status` and
//! `calendar-data`, whatever the namespace prefixes.

use super::{excerpt, invalid};
use crate::providers::adapter::AdapterError;

/// The iCalendar text of every `response` in a 207 body. A response that says 2xx but carries
/// no calendar-data is an error (skipping it could hide a taken room); one that says 404 (an
/// event deleted meanwhile) is skipped.
pub(super) fn multistatus_calendar_data(body: &str) -> Result<Vec<String>, AdapterError> {
    let tags = tags(body)?;
    match tags
        .iter()
        .find(|tag| matches!(tag.kind, TagKind::Open | TagKind::Empty))
    {
        Some(root) if local_name(root.name) == "multistatus" => {}
        _ => return Err(invalid(format!("not a multistatus: {}", excerpt(body)))),
    }
    let mut found = Vec::new();
    for response in elements(body, &tags, "response") {
        let data = elements(body, response.tags, "calendar-data");
        match data.first() {
            Some(data) if !data.text.trim().is_empty() => found.push(xml_text(data.text)?),
            _ => {
                let statuses = elements(body, response.tags, "status");
                let ok = statuses.is_empty()
                    || statuses.iter().any(|status| {
                        let code = status.text.split_whitespace().nth(1);
                        code.is_some_and(|code| code.starts_with('2'))
                    });
                if ok {
                    return Err(invalid(
                        "a multistatus response without calendar-data".into(),
                    ));
                }
            }
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Open,
    Close,
    Empty,
}

/// One tag: its name (with prefix) and where it starts and ends in the text.
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    kind: TagKind,
    name: &'a str,
    start: usize,
    end: usize,
}

/// Every element tag in order; comments, CDATA, processing instructions and DOCTYPE skipped.
fn tags(xml: &str) -> Result<Vec<Tag<'_>>, AdapterError> {
    let unterminated = || invalid(format!("malformed XML: {}", excerpt(xml)));
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(offset) = xml[at..].find('<') {
        let start = at + offset;
        let rest = &xml[start..];
        let skip_to = |terminator: &str| {
            rest.find(terminator)
                .map(|i| start + i + terminator.len())
                .ok_or_else(unterminated)
        };
        if rest.starts_with("<!--") {
            at = skip_to("-->")?;
        } else if rest.starts_with("<![CDATA[") {
            at = skip_to("]]>")?;
        } else if rest.starts_with("<?") {
            at = skip_to("?>")?;
        } else if rest.starts_with("<!") {
            at = skip_to(">")?;
        } else {
            let end = start + tag_end(rest).ok_or_else(unterminated)?;
            let inside = &xml[start + 1..end - 1];
            let (kind, inside) = if let Some(name) = inside.strip_prefix('/') {
                (TagKind::Close, name)
            } else if let Some(open) = inside.strip_suffix('/') {
                (TagKind::Empty, open)
            } else {
                (TagKind::Open, inside)
            };
            let name = inside
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default();
            if name.is_empty() {
                return Err(unterminated());
            }
            tags.push(Tag {
                kind,
                name,
                start,
                end,
            });
            at = end;
        }
    }
    Ok(tags)
}

/// The offset just past the `>` that closes the tag at the start of `rest` (quotes respected).
fn tag_end(rest: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in rest.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// An element's raw inner text and the tags inside it.
struct Element<'t, 'a> {
    text: &'a str,
    tags: &'t [Tag<'a>],
}

/// Each element named `local` among `tags`, outermost first (nesting respected).
fn elements<'t, 'a>(xml: &'a str, tags: &'t [Tag<'a>], local: &str) -> Vec<Element<'t, 'a>> {
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(tag) = tags.get(index) {
        if local_name(tag.name) == local {
            match tag.kind {
                TagKind::Empty => found.push(Element {
                    text: "",
                    tags: &[],
                }),
                TagKind::Open => {
                    if let Some(close) = matching_close(tags, index) {
                        found.push(Element {
                            text: &xml[tag.end..tags[close].start],
                            tags: &tags[index + 1..close],
                        });
                        index = close;
                    }
                }
                TagKind::Close => {}
            }
        }
        index += 1;
    }
    found
}

fn matching_close(tags: &[Tag<'_>], open: usize) -> Option<usize> {
    let name = tags[open].name;
    let mut depth = 0usize;
    for (i, tag) in tags.iter().enumerate().skip(open + 1) {
        if tag.name != name {
            continue;
        }
        match tag.kind {
            TagKind::Open => depth += 1,
            TagKind::Close if depth == 0 => return Some(i),
            TagKind::Close => depth -= 1,
            TagKind::Empty => {}
        }
    }
    None
}

/// Character data with entities and CDATA sections resolved; child elements are an error.
fn xml_text(raw: &str) -> Result<String, AdapterError> {
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['<', '&']) {
        text.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
            let end = cdata
                .find("]]>")
                .ok_or_else(|| invalid("unterminated CDATA".into()))?;
            text.push_str(&cdata[..end]);
            rest = &cdata[end + 3..];
        } else if rest.starts_with('<') {
            return Err(invalid(format!(
                "markup inside calendar-data: {}",
                excerpt(rest)
            )));
        } else {
            let end = rest
                .find(';')
                .ok_or_else(|| invalid("unterminated XML entity".into()))?;
            text.push(entity(&rest[1..end])?);
            rest = &rest[end + 1..];
        }
    }
    text.push_str(rest);
    Ok(text)
}

fn entity(name: &str) -> Result<char, AdapterError> {
    let code = match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "quot" => return Ok('"'),
        "apos" => return Ok('\''),
        _ => match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => name.strip_prefix('#').and_then(|dec| dec.parse().ok()),
        },
    };
    code.and_then(char::from_u32)
        .ok_or_else(|| invalid(format!("unknown XML entity &{name};")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caldav_multistatus_any_prefix_entities_and_cdata() {
        let body = r#"<?xml version="1.0"?>
<!-- a comment -->
<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
 <d:response><d:href>/a.ics</d:href><d:propstat><d:prop>
  <cal:calendar-data>BEGIN:VCALENDAR&#13;
SUMMARY:R&amp;D &lt;x&gt;
END:VCALENDAR</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/b.ics</d:href><d:propstat><d:prop>
  <cal:calendar-data><![CDATA[BEGIN:VCALENDAR
END:VCALENDAR]]></cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
</d:multistatus>"#;
        let data = multistatus_calendar_data(body).expect("parses");
        assert_eq!(
            data,
            [
                "BEGIN:VCALENDAR\r\nSUMMARY:R&D <x>\nEND:VCALENDAR",
                "BEGIN:VCALENDAR\nEND:VCALENDAR"
            ]
        );
        assert!(
            multistatus_calendar_data(r#"<multistatus xmlns="DAV:"/>"#)
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn caldav_garbage_multistatus_is_invalid_never_a_panic() {
        for body in [
            "",
            "<html><body>hello</body></html>",
            "<multistatus><response><status>HTTP/1.1 200 OK</status></response></multistatus>",
            "<multistatus><response><calendar-data>BEGIN:VCALENDAR &bogus; </calendar-data></response></multistatus>",
            "<multistatus><response",
            "<<<>>>",
        ] {
            assert!(
                matches!(
                    multistatus_calendar_data(body),
                    Err(AdapterError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }
}
