//! Booking email templates in Arabic (RTL) and English, each with a plain-text part, and
//! the calendar entry attached to a confirmation.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::dates::{self, ltr};
use crate::domain::Locale;
use crate::domain::calendar::{self, Span};
use crate::domain::text::one_line;
use crate::providers::policy::CancellationStep;

pub use crate::jobs::BookingEmail;

/// What the templates may say about a booking.
#[derive(Debug, Clone)]
pub struct BookingFacts {
    pub reference: String,
    pub guest_name: String,
    pub provider_name: String,
    /// The room type or clinic booked (empty when not known).
    pub unit_name: String,
    pub hotel: bool,
    /// The provider's address in the reader's language (empty: not given).
    pub address: String,
    pub timezone: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// A hotel's check-in and check-out times in its zone.
    pub check_in: Option<NaiveTime>,
    pub check_out: Option<NaiveTime>,
    pub guests: Option<i32>,
    pub rooms: i32,
    pub total: Decimal,
    /// The provider's price when it is paid at the provider (else nothing is due there).
    pub at_provider: Decimal,
    pub refund: Option<Decimal>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// A no-show's fee, and whether the provider's price was paid through us (so the fee
    /// is kept from it) or is the provider's to collect.
    pub no_show_fee: Option<Decimal>,
    pub prepaid: bool,
    /// The cancellation terms from now to the start (empty for an ended booking).
    pub cancellation: Vec<CancellationStep>,
}

impl BookingFacts {
    /// What is paid through us: the total less what is paid at the provider.
    fn pay_now(&self) -> Decimal {
        self.total - self.at_provider
    }

    /// The stay or appointment as the calendar shows it.
    pub fn span(&self) -> Span {
        Span::of_booking(
            self.hotel,
            self.timezone,
            (self.start, self.end),
            (self.check_in, self.check_out),
        )
    }
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub(crate) use crate::http::escape_html as escape;

/// An amount as emails write it: "350.00 SAR", isolated.
pub fn sar(amount: Decimal) -> String {
    ltr(format!("{amount:.2} SAR"))
}

/// A name stored before the text rules may hold controls (and isolates, which would unbalance ours).
fn clean(name: &str) -> String {
    one_line(name).into_owned()
}

/// When, in a sentence: a stay's days ("6 December 2026 – 8 December 2026"), an
/// appointment's day and time; never a stay's stored midnight.
fn when(locale: Locale, facts: &BookingFacts) -> (String, String) {
    let local = |at: DateTime<Utc>| at.with_timezone(&facts.timezone);
    if facts.hotel {
        (
            dates::short_day(locale, local(facts.start).date_naive()),
            dates::short_day(locale, local(facts.end).date_naive()),
        )
    } else {
        (
            dates::moment(locale, facts.start, facts.timezone),
            dates::clock(local(facts.end).time()),
        )
    }
}

/// Subject and paragraphs for one event in one language.
fn words(event: BookingEmail, locale: Locale, facts: &BookingFacts) -> (String, Vec<String>) {
    // Long on purpose: the whole message table, every event in Arabic then English, in one place.
    let reference = &ltr(&facts.reference);
    let provider = &clean(&facts.provider_name);
    let (start, end) = when(locale, facts);
    let total = sar(facts.total);
    let refund = sar(facts.refund.unwrap_or_default());
    let hold = facts
        .hold_expires_at
        .map(|at| dates::moment(locale, at, facts.timezone))
        .unwrap_or_default();
    let fee_amount = facts.no_show_fee.unwrap_or_default();
    let fee = sar(fee_amount);
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
            BookingEmail::WaitlistOffer => (
                format!("أتيح مكان من قائمة الانتظار: حجزنا لك {reference}"),
                vec![
                    format!(
                        "كنت في قائمة الانتظار لدى {provider} من {start} إلى {end}، وقد أتيح مكان فحجزناه لك."
                    ),
                    format!("ادفع ({total}) قبل {hold} ليصبح لك، وإلا انتقل إلى التالي في القائمة."),
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
            BookingEmail::WaitlistOffer => (
                format!("A place opened up: {reference} is held for you"),
                vec![
                    format!(
                        "You were on the waitlist for {provider} from {start} to {end}; a place opened up and we are holding it for you."
                    ),
                    format!(
                        "Pay {total} before {hold} to take it; after that it passes to the next person waiting."
                    ),
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
    render_with_link(event, locale, facts, None)
}

/// [`render`], with a link to follow (a waitlist offer's page to pay it).
pub fn render_with_link(
    event: BookingEmail,
    locale: Locale,
    facts: &BookingFacts,
    link: Option<Link<'_>>,
) -> Rendered {
    let (subject, paragraphs) = words(event, locale, facts);
    let en = locale == Locale::En;
    let pick = |ar: &str, english: &str| if en { english } else { ar }.to_owned();
    let local = |at: DateTime<Utc>| at.with_timezone(&facts.timezone);
    let mut rows = vec![(pick("مقدم الخدمة", "Provider"), clean(&facts.provider_name))];
    if !facts.address.is_empty() {
        rows.push((pick("العنوان", "Address"), clean(&facts.address)));
    }
    if !facts.unit_name.is_empty() {
        let what = if facts.hotel {
            pick("الغرفة", "Room")
        } else {
            pick("العيادة", "Clinic")
        };
        rows.push((what, clean(&facts.unit_name)));
    }
    if facts.hotel {
        let (first, last) = (
            local(facts.start).date_naive(),
            local(facts.end).date_naive(),
        );
        let at = |time: Option<NaiveTime>, ar: &str, english: &str| {
            time.map(|time| format!("{}{}", pick(ar, english), dates::clock(time)))
                .unwrap_or_default()
        };
        rows.push((
            pick("الوصول", "Check-in"),
            dates::day(locale, first) + &at(facts.check_in, "، من الساعة ", ", from "),
        ));
        rows.push((
            pick("المغادرة", "Check-out"),
            dates::day(locale, last) + &at(facts.check_out, "، حتى الساعة ", ", until "),
        ));
        let nights = (last - first).num_days();
        let guests = facts.guests.unwrap_or(facts.rooms);
        rows.push((
            pick("الإقامة", "Stay"),
            if en {
                format!(
                    "{} nights, {} guests, {} rooms",
                    ltr(nights),
                    ltr(guests),
                    ltr(facts.rooms)
                )
            } else {
                format!(
                    "{} ليالٍ، {} ضيوف، {} غرف",
                    ltr(nights),
                    ltr(guests),
                    ltr(facts.rooms)
                )
            },
        ));
    } else {
        rows.push((
            pick("الموعد", "Appointment"),
            dates::day(locale, local(facts.start).date_naive()),
        ));
        rows.push((
            pick("الوقت", "Time"),
            format!(
                "{} – {} {}",
                dates::clock(local(facts.start).time()),
                dates::clock(local(facts.end).time()),
                pick("بالتوقيت المحلي", "local time")
            ),
        ));
    }
    let mut amounts = vec![(pick("الإجمالي", "Total"), sar(facts.total))];
    match event {
        BookingEmail::Cancelled | BookingEmail::Failed | BookingEmail::Expired => {
            if let Some(refund) = facts.refund {
                amounts.push((pick("المبلغ المسترد", "Refund"), sar(refund)));
            }
        }
        BookingEmail::NoShow | BookingEmail::NoShowWaived => {
            amounts.push((
                pick("رسوم عدم الحضور", "No-show fee"),
                sar(facts.no_show_fee.unwrap_or_default()),
            ));
        }
        BookingEmail::Held | BookingEmail::WaitlistOffer => {
            amounts.push((pick("تدفعه الآن", "Pay now"), sar(facts.pay_now())));
            amounts.push((
                pick("تدفعه لدى مقدم الخدمة", "Pay at the provider"),
                sar(facts.at_provider),
            ));
        }
        BookingEmail::Confirmed | BookingEmail::Changed | BookingEmail::Reminder => {
            amounts.push((
                pick("دفعته عبر وسيط", "Paid to Wasit"),
                sar(facts.pay_now()),
            ));
            amounts.push((
                pick("تدفعه لدى مقدم الخدمة", "Pay at the provider"),
                sar(facts.at_provider),
            ));
        }
    }
    let live = matches!(
        event,
        BookingEmail::Held
            | BookingEmail::WaitlistOffer
            | BookingEmail::Confirmed
            | BookingEmail::Changed
            | BookingEmail::Reminder
    );
    let terms = if live && !facts.cancellation.is_empty() {
        Some((
            pick("شروط الإلغاء", "Cancellation terms"),
            cancellation_lines(locale, &facts.cancellation, facts.timezone),
        ))
    } else {
        None
    };
    receipt(
        locale,
        &facts.guest_name,
        Receipt {
            subject,
            reference: Some(facts.reference.clone()),
            paragraphs,
            rows,
            amounts,
            notes: terms,
            link,
        },
    )
}

/// The cancellation steps as sentences: "Full refund if you cancel before 4 December 2026,
/// 18:00", then "No refund after that".
fn cancellation_lines(locale: Locale, steps: &[CancellationStep], timezone: Tz) -> Vec<String> {
    let en = locale == Locale::En;
    let only = steps.len() == 1;
    steps
        .iter()
        .map(|step| {
            let share = ltr(format!("{}%", step.refund_percent));
            match (step.until, step.refund_percent) {
                (Some(until), percent) => {
                    let at = dates::moment(locale, until.with_timezone(&Utc), timezone);
                    match (en, percent) {
                        (true, 100) => format!("Full refund if you cancel before {at}."),
                        (true, 0) => format!("No refund if you cancel before {at}."),
                        (true, _) => format!("{share} refund if you cancel before {at}."),
                        (false, 100) => format!("استرداد كامل إن ألغيت قبل {at}."),
                        (false, 0) => format!("لا استرداد إن ألغيت قبل {at}."),
                        (false, _) => format!("استرداد {share} إن ألغيت قبل {at}."),
                    }
                }
                (None, percent) => match (en, only, percent) {
                    (true, true, 100) => "Free cancellation until the start.".into(),
                    (true, true, 0) => "Non-refundable.".into(),
                    (true, true, _) => format!("{share} refund if you cancel."),
                    (true, false, 0) => "No refund after that.".into(),
                    (true, false, _) => format!("{share} refund after that."),
                    (false, true, 100) => "إلغاء مجاني حتى الموعد.".into(),
                    (false, true, 0) => "غير قابل للاسترداد.".into(),
                    (false, true, _) => format!("استرداد {share} عند الإلغاء."),
                    (false, false, 0) => "لا استرداد بعد ذلك.".into(),
                    (false, false, _) => format!("استرداد {share} بعد ذلك."),
                },
            }
        })
        .collect()
}

/// A button to follow in HTML, the address on a line of its own in plain text.
pub struct Link<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

/// One email as a receipt: a title, the reference large, the paragraphs, the facts as a
/// table of labelled rows, the amounts, notes under a heading, and a link.
pub struct Receipt<'a> {
    pub subject: String,
    pub reference: Option<String>,
    pub paragraphs: Vec<String>,
    pub rows: Vec<(String, String)>,
    pub amounts: Vec<(String, String)>,
    pub notes: Option<(String, Vec<String>)>,
    pub link: Option<Link<'a>>,
}

/// Text for HTML: escaped, each isolate made a `<bdi dir="ltr">`.
fn html_text(text: &str) -> String {
    escape(text)
        .replace('\u{2066}', "<bdi dir=\"ltr\">")
        .replace('\u{2069}', "</bdi>")
}

/// Text for the plain part: English needs no isolates, Arabic keeps them.
fn plain_text(locale: Locale, text: &str) -> String {
    match locale {
        Locale::Ar => text.to_owned(),
        Locale::En => text.replace(['\u{2066}', '\u{2069}'], ""),
    }
}

/// Every email's frame: a greeting, the receipt and the signature, as plain text and as
/// HTML in the reader's direction (right-to-left for Arabic). Inline styles and tables: mail
/// clients drop style sheets.
pub fn receipt(locale: Locale, name: &str, receipt: Receipt<'_>) -> Rendered {
    // The subject is a header and the greeting one line: names stored before the text rules
    // (a provider's, a unit's, a plan's, the reader's) may still hold control characters.
    let subject = one_line(&receipt.subject).into_owned();
    let name = one_line(name);
    let (lang, dir, side, greeting, signature, reference_label) = match locale {
        Locale::Ar => (
            "ar",
            "rtl",
            "right",
            format!("مرحباً {name}،"),
            "وسيط",
            "رقم الحجز",
        ),
        Locale::En => (
            "en",
            "ltr",
            "left",
            format!("Hello {name},"),
            "Wasit",
            "Booking reference",
        ),
    };
    let plain = |text: &str| plain_text(locale, text);

    let mut text = vec![greeting.clone(), subject.clone()];
    let mut html = format!(
        "<h1 style=\"font-size: 20px; margin: 0 0 12px\">{}</h1>",
        escape(&subject)
    );
    if let Some(reference) = &receipt.reference {
        text.push(format!("{reference_label}: {}", plain(&ltr(reference))));
        html.push_str(&format!(
            "<p style=\"margin: 0 0 16px\"><span style=\"color: #52606d\">{reference_label}</span><br>\
             <bdi dir=\"ltr\" class=\"reference\" style=\"font-size: 28px; font-weight: bold; letter-spacing: 2px\">{}</bdi></p>",
            escape(reference)
        ));
    }
    html.push_str(&format!("<p>{}</p>", escape(&greeting)));
    for (i, paragraph) in receipt.paragraphs.iter().enumerate() {
        text.push(plain(paragraph));
        html.push_str(&format!("<p>{}</p>", html_text(paragraph)));
        if i == 0
            && let Some(link) = &receipt.link
        {
            text.push(link.url.to_owned());
            html.push_str(&format!(
                "<p><a href=\"{}\" style=\"display: inline-block; padding: 10px 18px; background: #0f766e; color: #ffffff; \
                 font-weight: bold; text-decoration: none; border-radius: 6px\">{}</a></p><p dir=\"ltr\" style=\"font-size: small\">{}</p>",
                escape(link.url),
                escape(link.label),
                escape(link.url)
            ));
        }
    }
    let table = |rows: &[(String, String)], class: &str, emphasis: bool| {
        let cells: String = rows
            .iter()
            .map(|(label, value)| {
                format!(
                    "<tr><th scope=\"row\" style=\"text-align: {side}; padding: 6px 0; color: #52606d; font-weight: normal; \
                     vertical-align: top; width: 40%\">{}</th><td style=\"padding: 6px 0{}\">{}</td></tr>",
                    escape(label),
                    if emphasis { "; font-weight: bold" } else { "" },
                    html_text(value)
                )
            })
            .collect();
        let border = if emphasis {
            "border-top: 2px solid #1f2933; "
        } else {
            ""
        };
        format!(
            "<table role=\"presentation\" class=\"{class}\" width=\"100%\" style=\"{border}border-collapse: collapse; margin: 12px 0\">{cells}</table>"
        )
    };
    let lines = |rows: &[(String, String)]| {
        rows.iter()
            .map(|(label, value)| format!("{label}: {}", plain(value)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if !receipt.rows.is_empty() {
        text.push(lines(&receipt.rows));
        html.push_str(&table(&receipt.rows, "facts", false));
    }
    if !receipt.amounts.is_empty() {
        text.push(format!("----\n{}", lines(&receipt.amounts)));
        html.push_str(&table(&receipt.amounts, "amounts", true));
    }
    if let Some((heading, notes)) = &receipt.notes {
        let items: Vec<String> = notes
            .iter()
            .map(|note| format!("- {}", plain(note)))
            .collect();
        text.push(format!("{heading}\n{}", items.join("\n")));
        html.push_str(&format!(
            "<h2 style=\"font-size: 16px; margin: 16px 0 4px\">{}</h2><ul class=\"notes\">{}</ul>",
            escape(heading),
            notes
                .iter()
                .map(|note| format!("<li>{}</li>", html_text(note)))
                .collect::<String>()
        ));
    }
    text.push(signature.to_owned());
    let html = format!(
        "<!doctype html><html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\
         <body style=\"margin: 0; background: #f4f5f7; font-family: Tahoma, Arial, sans-serif; color: #1f2933\">\
         <table role=\"presentation\" width=\"100%\" style=\"border-collapse: collapse\"><tr><td style=\"padding: 24px 12px\" align=\"center\">\
         <table role=\"presentation\" dir=\"{dir}\" style=\"max-width: 600px; width: 100%; background: #ffffff; border: 1px solid #d9dee3; \
         border-radius: 8px; border-collapse: separate; text-align: {side}\">\
         <tr><td style=\"padding: 16px 24px; border-bottom: 3px solid #0f766e; font-size: 20px; font-weight: bold; color: #0f766e\">{signature}</td></tr>\
         <tr><td style=\"padding: 24px\">{html}<p>{signature}</p></td></tr></table></td></tr></table></body></html>",
        escape(&subject),
    );
    Rendered {
        subject,
        text: format!("{}\n", text.join("\n\n")),
        html,
    }
}

/// The confirmed stay or appointment as an iCalendar event (UID stable per booking), at the
/// provider's address.
pub fn calendar_entry(facts: &BookingFacts) -> String {
    let title = if facts.unit_name.is_empty() {
        facts.provider_name.clone()
    } else {
        format!("{} – {}", facts.provider_name, facts.unit_name)
    };
    calendar::booking_entry(&calendar::Entry {
        reference: &facts.reference,
        title: &title,
        location: &facts.address,
        span: facts.span(),
        confirmed: Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use icalendar::{Calendar, Component, EventLike};
    use rust_decimal::dec;

    fn facts() -> BookingFacts {
        BookingFacts {
            reference: "WS-7K3F9Q".into(),
            guest_name: "سارة <script>".into(),
            provider_name: "فندق كورنيش جدة".into(),
            unit_name: "غرفة بإطلالة على البحر".into(),
            hotel: true,
            address: "طريق الكورنيش، جدة".into(),
            timezone: chrono_tz::Asia::Riyadh,
            start: "2026-12-05T21:00:00Z".parse().unwrap(),
            end: "2026-12-07T21:00:00Z".parse().unwrap(),
            check_in: NaiveTime::from_hms_opt(15, 0, 0),
            check_out: NaiveTime::from_hms_opt(12, 0, 0),
            guests: Some(2),
            rooms: 1,
            total: dec!(628.75),
            at_provider: dec!(0),
            refund: Some(dec!(314.38)),
            hold_expires_at: None,
            no_show_fee: Some(dec!(450.00)),
            prepaid: true,
            cancellation: Vec::new(),
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
        // A stay is days with the hotel's times, never its stored midnight.
        assert!(!mail.text.contains("00:00"), "{}", mail.text);
        assert!(
            mail.text.contains(
                "Check-in: Sunday 6 December 2026 (26 Jumada al-Akhirah 1448 AH), from 15:00"
            ),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("Check-out: Tuesday 8 December 2026"),
            "{}",
            mail.text
        );
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
            BookingEmail::WaitlistOffer,
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
        assert_eq!(event.get_location(), Some("طريق الكورنيش، جدة"));
    }

    #[test]
    fn a_confirmation_is_a_receipt_with_both_amounts_and_the_terms() {
        let facts = BookingFacts {
            hotel: false,
            unit_name: "Cardiology - Dr. Ahmed".into(),
            address: "King Fahd Road, Riyadh".into(),
            provider_name: "Al Nakheel Hospital".into(),
            guest_name: "Sara".into(),
            start: "2026-12-06T07:30:00Z".parse().unwrap(),
            end: "2026-12-06T08:00:00Z".parse().unwrap(),
            total: dec!(364.38),
            at_provider: dec!(350.00),
            prepaid: false,
            cancellation: vec![
                CancellationStep {
                    until: Some("2026-12-03T10:30:00+03:00".parse().unwrap()),
                    refund_percent: 100,
                },
                CancellationStep {
                    until: None,
                    refund_percent: 0,
                },
            ],
            ..facts()
        };
        let mail = render(BookingEmail::Confirmed, Locale::En, &facts);
        for part in [
            "Booking reference: WS-7K3F9Q",
            "Address: King Fahd Road, Riyadh",
            "Clinic: Cardiology - Dr. Ahmed",
            "Appointment: Sunday 6 December 2026 (26 Jumada al-Akhirah 1448 AH)",
            "Time: 10:30 – 11:00 local time",
            "Paid to Wasit: 14.38 SAR",
            "Pay at the provider: 350.00 SAR",
            "Full refund if you cancel before 3 December 2026, 10:30.",
            "No refund after that.",
        ] {
            assert!(mail.text.contains(part), "{part}: {}", mail.text);
        }
        assert!(
            mail.html.contains("<bdi dir=\"ltr\">350.00 SAR</bdi>"),
            "{}",
            mail.html
        );
        let arabic = render(BookingEmail::Confirmed, Locale::Ar, &facts);
        for part in [
            "رقم الحجز: \u{2066}WS-7K3F9Q\u{2069}",
            "دفعته عبر وسيط: \u{2066}14.38 SAR\u{2069}",
            "تدفعه لدى مقدم الخدمة: \u{2066}350.00 SAR\u{2069}",
            "الموعد: الأحد 6 ديسمبر 2026 (26 جمادى الآخرة 1448 هـ)",
        ] {
            assert!(arabic.text.contains(part), "{part}: {}", arabic.text);
        }
        assert!(
            arabic.html.contains("dir=\"rtl\"")
                && arabic.html.contains("<bdi dir=\"ltr\">14.38 SAR</bdi>")
        );
    }
}
