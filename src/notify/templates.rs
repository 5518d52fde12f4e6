//! Booking email templates in Arabic (RTL) and English, each with a plain-text part, and
//! the calendar entry attached to a confirmation.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use rust_decimal::Decimal;

use crate::domain::Locale;
use crate::domain::text::one_line;

pub use crate::jobs::BookingEmail;

/// What the templates may say about a booking.
#[derive(Debug, Clone)]
pub struct BookingFacts {
    pub reference: String,
    pub guest_name: String,
    pub provider_name: String,
    pub city: String,
    pub timezone: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub total: Decimal,
    pub refund: Option<Decimal>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// A no-show's fee, and whether the provider's price was paid through us (so the fee
    /// is kept from it) or is the provider's to collect.
    pub no_show_fee: Option<Decimal>,
    pub prepaid: bool,
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub(crate) use crate::http::escape_html as escape;

fn local(at: DateTime<Utc>, timezone: Tz) -> String {
    at.with_timezone(&timezone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Subject and paragraphs for one event in one language.
fn words(event: BookingEmail, locale: Locale, facts: &BookingFacts) -> (String, Vec<String>) {
    // Long on purpose: the whole message table, every event in Arabic then English, in one place.
    let reference = &facts.reference;
    let provider = &facts.provider_name;
    let start = local(facts.start, facts.timezone);
    let end = local(facts.end, facts.timezone);
    let total = format!("{} SAR", facts.total);
    let refund = format!("{} SAR", facts.refund.unwrap_or_default());
    let hold = facts
        .hold_expires_at
        .map(|at| local(at, facts.timezone))
        .unwrap_or_default();
    let fee_amount = facts.no_show_fee.unwrap_or_default();
    let fee = format!("{fee_amount} SAR");
    // What a no-show costs: kept from the payment, or the provider's to collect.
    let no_show_money = match (locale, facts.prepaid, fee_amount.is_zero()) {
        (Locale::Ar, true, _) => format!(
            "يحتفظ {provider} بـ {fee} رسومَ عدم حضور، ونعيد إليك {refund}. رسوم خدمتنا لا تُسترد."
        ),
        (Locale::Ar, false, false) => {
            format!("قد يطالبك {provider} برسوم عدم الحضور البالغة {fee} لديه.")
        }
        (Locale::Ar, false, true) => "لا رسوم على عدم الحضور.".to_owned(),
        (Locale::En, true, _) => format!(
            "{provider} keeps {fee} as its no-show fee; we refund {refund}. Our service fee is not refunded."
        ),
        (Locale::En, false, false) => {
            format!("{provider} may charge you its no-show fee of {fee} at the property.")
        }
        (Locale::En, false, true) => "There is no no-show fee.".to_owned(),
    };
    match locale {
        Locale::Ar => match event {
            BookingEmail::Held => (
                format!("حجزك {reference} محجوز مؤقتاً"),
                vec![
                    format!("حجزنا لك {provider} من {start} إلى {end}."),
                    format!("أكمل الدفع ({total}) قبل {hold} ليبقى الحجز."),
                ],
            ),
            BookingEmail::Confirmed => (
                format!("تم تأكيد حجزك {reference}"),
                vec![
                    format!("أكّد {provider} حجزك من {start} إلى {end}."),
                    "أرفقنا موعدك بصيغة التقويم.".into(),
                ],
            ),
            BookingEmail::Cancelled => (
                format!("أُلغي حجزك {reference}"),
                vec![
                    format!("أُلغي حجزك لدى {provider}."),
                    format!("المبلغ المسترد: {refund}."),
                ],
            ),
            BookingEmail::Expired => (
                format!("انتهت مهلة حجزك {reference}"),
                vec![format!(
                    "لم يكتمل الدفع في الوقت المحدد، فأُطلق حجزك لدى {provider}."
                )],
            ),
            BookingEmail::Reminder => (
                format!("تذكير: حجزك {reference} غداً"),
                vec![
                    format!("نذكّرك بحجزك لدى {provider} من {start} إلى {end}."),
                    "نتمنى لك إقامة أو زيارة موفقة.".into(),
                ],
            ),
            BookingEmail::Changed => (
                format!("عُدّل حجزك {reference}"),
                vec![
                    format!("أصبح حجزك لدى {provider} من {start} إلى {end}."),
                    format!("الإجمالي الآن {total}. أرفقنا موعدك الجديد بصيغة التقويم."),
                ],
            ),
            BookingEmail::Failed => (
                format!("تعذّر تأكيد حجزك {reference}"),
                vec![
                    format!("لم يؤكد {provider} حجزك."),
                    format!("سنعيد إليك {refund}، وسيتواصل معك فريقنا."),
                ],
            ),
            BookingEmail::NoShow => (
                format!("سُجّل حجزك {reference} عدمَ حضور"),
                vec![
                    format!("سُجّل أنك لم تحضر لحجزك لدى {provider} من {start} إلى {end}."),
                    no_show_money,
                ],
            ),
            BookingEmail::NoShowWaived => (
                format!("أعفيناك من رسوم عدم الحضور لحجزك {reference}"),
                vec![
                    format!("أعفيناك من رسوم عدم الحضور ({fee}) لحجزك لدى {provider}."),
                    if facts.prepaid {
                        "سنعيدها إلى بطاقتك.".to_owned()
                    } else {
                        format!("لن يطالبك {provider} بها.")
                    },
                ],
            ),
        },
        Locale::En => match event {
            BookingEmail::Held => (
                format!("Your booking {reference} is on hold"),
                vec![
                    format!("We are holding {provider} for you from {start} to {end}."),
                    format!("Pay {total} before {hold} to keep it."),
                ],
            ),
            BookingEmail::Confirmed => (
                format!("Your booking {reference} is confirmed"),
                vec![
                    format!("{provider} confirmed your booking from {start} to {end}."),
                    "Your calendar entry is attached.".into(),
                ],
            ),
            BookingEmail::Cancelled => (
                format!("Your booking {reference} is cancelled"),
                vec![
                    format!("Your booking with {provider} is cancelled."),
                    format!("Refund: {refund}."),
                ],
            ),
            BookingEmail::Expired => (
                format!("Your hold on {reference} has expired"),
                vec![format!(
                    "Payment did not arrive in time, so your hold with {provider} was released."
                )],
            ),
            BookingEmail::Reminder => (
                format!("Reminder: booking {reference} is tomorrow"),
                vec![
                    format!("A reminder of your booking with {provider} from {start} to {end}."),
                    "We wish you a good stay or visit.".into(),
                ],
            ),
            BookingEmail::Changed => (
                format!("Your booking {reference} has changed"),
                vec![
                    format!("Your booking with {provider} is now from {start} to {end}."),
                    format!("The total is now {total}. Your new calendar entry is attached."),
                ],
            ),
            BookingEmail::Failed => (
                format!("We could not confirm booking {reference}"),
                vec![
                    format!("{provider} did not confirm your booking."),
                    format!("We will refund {refund}, and our team will contact you."),
                ],
            ),
            BookingEmail::NoShow => (
                format!("Booking {reference} was marked as a no-show"),
                vec![
                    format!(
                        "You did not arrive for your booking with {provider} from {start} to {end}."
                    ),
                    no_show_money,
                ],
            ),
            BookingEmail::NoShowWaived => (
                format!("The no-show fee of booking {reference} is waived"),
                vec![
                    format!("We waived the no-show fee ({fee}) of your booking with {provider}."),
                    if facts.prepaid {
                        "We refund it to your card.".to_owned()
                    } else {
                        format!("{provider} will not charge it.")
                    },
                ],
            ),
        },
    }
}

pub fn render(event: BookingEmail, locale: Locale, facts: &BookingFacts) -> Rendered {
    let (subject, paragraphs) = words(event, locale, facts);
    layout(locale, &facts.guest_name, subject, &paragraphs)
}

/// Every email's frame: a greeting, the paragraphs and the signature, as plain text and as
/// HTML in the reader's direction (right-to-left for Arabic).
pub fn layout(locale: Locale, name: &str, subject: String, paragraphs: &[String]) -> Rendered {
    layout_with_link(locale, name, subject, paragraphs, None)
}

/// A button to follow in HTML, the address on a line of its own in plain text.
pub struct Link<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

/// [`layout`], with a link after the first paragraph.
pub fn layout_with_link(
    locale: Locale,
    name: &str,
    subject: String,
    paragraphs: &[String],
    link: Option<Link<'_>>,
) -> Rendered {
    // The subject is a header and the greeting one line: names stored before the text rules
    // (a provider's, a unit's, a plan's, the reader's) may still hold control characters.
    let subject = one_line(&subject).into_owned();
    let name = one_line(name);
    let (lang, dir, greeting, signature) = match locale {
        Locale::Ar => ("ar", "rtl", format!("مرحباً {name}،"), "وسيط"),
        Locale::En => ("en", "ltr", format!("Hello {name},"), "Wasit"),
    };
    let mut text_parts: Vec<String> = paragraphs.to_vec();
    let mut html_parts: Vec<String> = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", escape(p)))
        .collect();
    if let Some(link) = link {
        let at = 1.min(paragraphs.len());
        text_parts.insert(at, link.url.to_owned());
        html_parts.insert(
            at,
            format!(
                "<p><a href=\"{}\" style=\"font-weight: bold\">{}</a></p><p dir=\"ltr\" style=\"font-size: small\">{}</p>",
                escape(link.url),
                escape(link.label),
                escape(link.url)
            ),
        );
    }
    let text = format!("{greeting}\n\n{}\n\n{signature}\n", text_parts.join("\n\n"));
    let body: String = html_parts.concat();
    let html = format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: Tahoma, Arial, sans-serif; text-align: {}\"><p>{}</p>{body}<p>{signature}</p></body></html>",
        escape(&subject),
        if dir == "rtl" { "right" } else { "left" },
        escape(&greeting),
    );
    Rendered {
        subject,
        text,
        html,
    }
}

/// The confirmed stay or appointment as an iCalendar event (UID stable per booking).
pub fn calendar_entry(facts: &BookingFacts) -> String {
    let event = Event::new()
        .uid(&format!("{}@wasit", facts.reference))
        // Names stored before the text rules may hold a CR, which the writer does not escape.
        .summary(&format!(
            "{} ({})",
            one_line(&facts.provider_name),
            facts.reference
        ))
        .location(&one_line(&facts.city))
        .starts(facts.start)
        .ends(facts.end)
        .status(EventStatus::Confirmed)
        .done();
    Calendar::new().push(event).done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn facts() -> BookingFacts {
        BookingFacts {
            reference: "WS-7K3F9Q".into(),
            guest_name: "سارة <script>".into(),
            provider_name: "فندق كورنيش جدة".into(),
            city: "jeddah".into(),
            timezone: chrono_tz::Asia::Riyadh,
            start: "2026-12-05T21:00:00Z".parse().unwrap(),
            end: "2026-12-07T21:00:00Z".parse().unwrap(),
            total: dec!(628.75),
            refund: Some(dec!(314.38)),
            hold_expires_at: None,
            no_show_fee: Some(dec!(450.00)),
            prepaid: true,
        }
    }

    #[test]
    fn arabic_mail_is_right_to_left_with_local_times_and_escaped_names() {
        let mail = render(BookingEmail::Cancelled, Locale::Ar, &facts());
        assert!(mail.subject.contains("WS-7K3F9Q") && mail.subject.contains("أُلغي"));
        assert!(mail.html.contains("dir=\"rtl\"") && mail.html.contains("lang=\"ar\""));
        assert!(mail.html.contains("&lt;script&gt;") && !mail.html.contains("<script>"));
        assert!(mail.text.contains("314.38 SAR"));
    }

    #[test]
    fn english_mail_is_left_to_right_and_shows_riyadh_time() {
        let mail = render(BookingEmail::Confirmed, Locale::En, &facts());
        assert_eq!(mail.subject, "Your booking WS-7K3F9Q is confirmed");
        assert!(mail.html.contains("dir=\"ltr\""));
        assert!(mail.text.contains("2026-12-06 00:00"), "{}", mail.text);
    }

    #[test]
    fn every_event_has_both_languages() {
        for event in [
            BookingEmail::Held,
            BookingEmail::Confirmed,
            BookingEmail::Cancelled,
            BookingEmail::Expired,
            BookingEmail::Failed,
            BookingEmail::Reminder,
            BookingEmail::Changed,
            BookingEmail::NoShow,
            BookingEmail::NoShowWaived,
        ] {
            for locale in [Locale::Ar, Locale::En] {
                let mail = render(event, locale, &facts());
                assert!(
                    !mail.subject.is_empty() && !mail.text.is_empty(),
                    "{event:?} {locale:?}"
                );
            }
        }
    }

    #[test]
    fn a_no_show_mail_says_what_was_kept_and_what_comes_back() {
        let mail = render(BookingEmail::NoShow, Locale::En, &facts());
        assert!(mail.text.contains("keeps 450.00 SAR"), "{}", mail.text);
        assert!(mail.text.contains("we refund 314.38 SAR"), "{}", mail.text);
        let mail = render(BookingEmail::NoShow, Locale::Ar, &facts());
        assert!(mail.text.contains("450.00 SAR") && mail.text.contains("314.38 SAR"));
        let at_the_property = BookingFacts {
            prepaid: false,
            ..facts()
        };
        let mail = render(BookingEmail::NoShow, Locale::En, &at_the_property);
        assert!(
            mail.text
                .contains("charge you its no-show fee of 450.00 SAR")
        );
        let mail = render(BookingEmail::NoShowWaived, Locale::En, &at_the_property);
        assert!(mail.text.contains("will not charge it"), "{}", mail.text);
    }

    #[test]
    fn the_calendar_entry_parses_and_names_the_booking() {
        let ics = calendar_entry(&facts());
        let parsed: Calendar = ics.parse().unwrap();
        let event = parsed.components.iter().find_map(|c| c.as_event()).unwrap();
        assert_eq!(event.get_uid(), Some("WS-7K3F9Q@wasit"));
    }
}
