//! The multistatus answer of a calendar-query, read with `roxmltree`. Only `response`, `status`
//! and `calendar-data` matter; they are found by local name, whatever prefixes the server
//! gives its namespaces.

use roxmltree::{Document, Node};

use super::{excerpt, invalid};
use crate::providers::adapter::AdapterError;

/// The iCalendar text of every `response` in a 207 body. A response that says 2xx but carries
/// no calendar-data is an error (skipping it could hide a taken room); one that says 404 (an
/// event deleted meanwhile) is skipped.
pub(super) fn multistatus_calendar_data(body: &str) -> Result<Vec<String>, AdapterError> {
    let document = Document::parse(body)
        .map_err(|e| invalid(format!("malformed XML ({e}): {}", excerpt(body))))?;
    if document.root_element().tag_name().name() != "multistatus" {
        return Err(invalid(format!("not a multistatus: {}", excerpt(body))));
    }
    let mut found = Vec::new();
    for response in outermost(document.root_element(), "response") {
        let data = match outermost(response, "calendar-data").first() {
            Some(data) => calendar_text(*data)?,
            None => String::new(),
        };
        if !data.trim().is_empty() {
            found.push(data);
            continue;
        }
        let statuses = outermost(response, "status");
        let ok = statuses.is_empty()
            || statuses.iter().any(|status| {
                let text: String = status
                    .descendants()
                    .filter(Node::is_text)
                    .filter_map(|n| n.text())
                    .collect();
                let code = text.split_whitespace().nth(1);
                code.is_some_and(|code| code.starts_with('2'))
            });
        if ok {
            return Err(invalid(
                "a multistatus response without calendar-data".into(),
            ));
        }
    }
    Ok(found)
}

/// The elements named `local` below `node`, in document order, not looking inside a match
/// (an explicit stack rather than recursion: a hostile body may nest deeply).
fn outermost<'a, 'input>(node: Node<'a, 'input>, local: &str) -> Vec<Node<'a, 'input>> {
    let mut found = Vec::new();
    let mut stack: Vec<Node<'a, 'input>> = node.children().rev().collect();
    while let Some(next) = stack.pop() {
        if !next.is_element() {
            continue;
        }
        if next.tag_name().name() == local {
            found.push(next);
        } else {
            stack.extend(next.children().rev());
        }
    }
    found
}

/// The text of a calendar-data element, entities and CDATA resolved by the parser. Anything
/// but text inside it (elements, comments) means the server sent something other than
/// iCalendar: an error, not text to guess at.
fn calendar_text(data: Node<'_, '_>) -> Result<String, AdapterError> {
    let mut text = String::new();
    for child in data.children() {
        match child.text() {
            Some(part) if child.is_text() => text.push_str(part),
            _ => {
                return Err(invalid(format!(
                    "markup inside calendar-data: {}",
                    excerpt(&data.document().input_text()[child.range()])
                )));
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::caldav::occupancy::occupancies;

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
            // Markup other than text inside calendar-data.
            "<multistatus><response><calendar-data>BEGIN<x/></calendar-data></response></multistatus>",
            "<multistatus><response><calendar-data>BEGIN<!-- c --></calendar-data></response></multistatus>",
            // Not well-formed, though each would be an empty answer if it were: mismatched
            // tags, an undeclared prefix, text after the root.
            "<multistatus><response><status>HTTP/1.1 404 Not Found</multistatus></status></response>",
            "<d:multistatus><d:response><d:status>HTTP/1.1 404 Not Found</d:status></d:response></d:multistatus>",
            "<multistatus/>trailing",
            // A DTD has no place in a DAV answer (and could define entities to expand).
            "<!DOCTYPE multistatus [<!ENTITY x \"y\">]><multistatus/>",
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

    #[test]
    fn caldav_multistatus_default_and_other_prefixes() {
        let body = r#"<multistatus xmlns="DAV:"><response><propstat><prop>
<calendar-data xmlns="urn:ietf:params:xml:ns:caldav">BEGIN:VCALENDAR</calendar-data>
</prop><status>HTTP/1.1 200 OK</status></propstat></response>
<X:response xmlns:X="DAV:" xmlns:Y="urn:ietf:params:xml:ns:caldav"><X:propstat><X:prop>
<Y:calendar-data>BEGIN:VCALENDAR &#x41;&#66;</Y:calendar-data>
</X:prop></X:propstat></X:response></multistatus>"#;
        assert_eq!(
            multistatus_calendar_data(body).expect("parses"),
            ["BEGIN:VCALENDAR", "BEGIN:VCALENDAR AB"]
        );
    }

    #[test]
    fn caldav_multistatus_calendar_data_still_parses_as_icalendar() {
        // XML turns a raw CR LF into LF; the iCalendar reader takes either.
        let body = "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
<d:response><d:propstat><d:prop><c:calendar-data>BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
PRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART;VALUE=DATE:20270310\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n</c:calendar-data>\
</d:prop></d:propstat></d:response></d:multistatus>";
        let data = multistatus_calendar_data(body).expect("parses");
        assert_eq!(data.len(), 1);
        assert!(!data[0].contains('\r'), "{data:?}");
        let held = occupancies(&data[0], chrono_tz::Asia::Riyadh).expect("iCalendar");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].uid.as_deref(), Some("x"));
    }
}
