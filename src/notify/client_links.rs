//! The text and the email that carry a client link (`bookings::client_links`): a consent
//! link (approve or decline what an agent booked for you) or a pay link, in the client's
//! language, with what was booked and its price. Rendered when the job runs; nothing once
//! the link is used, replaced or its hold over. The text goes through the outbox (the
//! client's SMS consent honoured, one per link); the email has one Message-ID per link.

use diesel::prelude::*;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use uuid::Uuid;

use super::dates::{ltr, moment};
use super::email::{MailError, Mailer, booking_facts, recipient};
use super::sms::outbox::{self, NewSms};
use super::templates::{self, BookingFacts, Link, Receipt, Rendered, sar};
use crate::auth::links::LinkKeys;
use crate::bookings::client_links::{LinkKind, LinkRow, LinkState};
use crate::bookings::store::BookingRow;
use crate::db::{PgPool, run_blocking};
use crate::domain::Locale;
use crate::domain::text::one_line;
use crate::schema::{bookings, client_links, customers};

/// Job: texts and emails the link `link_id` to its booking's client, if it may still be used.
pub async fn send_client_link(
    pool: &PgPool,
    mailer: &Mailer,
    keys: &LinkKeys,
    link_id: Uuid,
) -> Result<(), MailError> {
    let site_url = mailer.site_url.clone();
    let token = keys.token(link_id);
    let loaded = run_blocking(pool, move |conn| {
        let link: LinkRow = client_links::table
            .find(link_id)
            .select(LinkRow::as_select())
            .first(conn)?;
        let Some(booking_id) = link.booking_id else {
            return Ok(None);
        };
        let booking: BookingRow = bookings::table
            .find(booking_id)
            .select(BookingRow::as_select())
            .first(conn)?;
        if !matches!(link.state(&booking), LinkState::Sent | LinkState::Opened) {
            return Ok(None);
        }
        let kind = if link.kind == LinkKind::Pay.as_str() {
            LinkKind::Pay
        } else {
            LinkKind::Consent
        };
        let (phone, locale): (Option<String>, Locale) = customers::table
            .find(booking.customer_id)
            .select((customers::phone, customers::locale))
            .first(conn)?;
        let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
        let facts = booking_facts(&booking, &provider, locale, None);
        let url = link_url(&site_url, kind, &token);
        // The text first: queued once per link (its dedup key), whatever the mail does.
        if let Some(phone) = booking.contact_phone.clone().or(phone) {
            let purpose = purpose(kind);
            let body = text(kind, locale, &facts, &url);
            conn.transaction(|conn| {
                outbox::queue(
                    conn,
                    &NewSms {
                        customer_id: booking.customer_id,
                        to: &phone,
                        body: &body,
                        purpose,
                        dedup_key: &format!("{purpose}:{link_id}"),
                    },
                )
            })?;
        }
        let to = recipient(conn, &booking)?;
        Ok(Some((kind, locale, facts, url, to)))
    })
    .await?;
    let Some((kind, locale, facts, url, Some(to))) = loaded else {
        return Ok(());
    };
    let to: Mailbox = to.parse()?;
    let rendered = render(kind, locale, &facts, &url);
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!(
            "<{}.{link_id}@{}>",
            purpose(kind).replace('_', "-"),
            mailer.domain
        )))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .map_err(|e| MailError::Build(e.to_string()))?;
    mailer.send(message).await
}

fn purpose(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Consent => "consent_link",
        LinkKind::Pay => "pay_link",
    }
}

/// The site's page for the link, the token in the fragment (never sent to a server, so it
/// stays out of access logs and `Referer` headers).
fn link_url(site_url: &str, kind: LinkKind, token: &str) -> String {
    let page = match kind {
        LinkKind::Consent => "consent",
        LinkKind::Pay => "pay",
    };
    format!("{site_url}#/{page}/{token}")
}

/// The text: short, the reference and the amount isolated in Arabic, the link last.
fn text(kind: LinkKind, locale: Locale, facts: &BookingFacts, url: &str) -> String {
    let provider = one_line(&facts.provider_name).into_owned();
    let reference = &facts.reference;
    let total = facts.total;
    match (locale, kind) {
        (Locale::Ar, LinkKind::Consent) => format!(
            "وسيط: حجزنا لك {} لدى {provider} بمبلغ {} ريال. وافق أو ارفض: {url}",
            ltr(reference),
            ltr(total)
        ),
        (Locale::Ar, LinkKind::Pay) => format!(
            "وسيط: ادفع {} ريال لحجزك {} لدى {provider}: {url}",
            ltr(total),
            ltr(reference)
        ),
        (Locale::En, LinkKind::Consent) => format!(
            "Wasit: we booked {reference} at {provider} for you, {total} SAR. Approve or decline: {url}"
        ),
        (Locale::En, LinkKind::Pay) => {
            format!("Wasit: pay {total} SAR for booking {reference} at {provider}: {url}")
        }
    }
}

/// The email: what was booked, when, for how much, and the link's button.
fn render(kind: LinkKind, locale: Locale, facts: &BookingFacts, url: &str) -> Rendered {
    let ar = locale == Locale::Ar;
    let (subject, label, first) = match (ar, kind) {
        (true, LinkKind::Consent) => (
            format!("وافق على حجزك {}", ltr(&facts.reference)),
            "مراجعة الحجز والموافقة عليه",
            "حجز لك موظفنا ما يلي بناءً على مكالمتك. لا يمضي الحجز إلا بموافقتك: افتح الرابط لتوافق عليه أو ترفضه.",
        ),
        (true, LinkKind::Pay) => (
            format!("ادفع حجزك {}", ltr(&facts.reference)),
            "الدفع الآن",
            "لدفع حجزك بأمان من هاتفك، دون قراءة أرقام بطاقتك لأحد، افتح الرابط التالي.",
        ),
        (false, LinkKind::Consent) => (
            format!("Approve your booking {}", facts.reference),
            "Review and approve",
            "Our agent booked the following for you on your call. It goes ahead only with your approval: open the link to approve or decline it.",
        ),
        (false, LinkKind::Pay) => (
            format!("Pay for your booking {}", facts.reference),
            "Pay now",
            "To pay for your booking securely on your own phone, without reading your card to anyone, open this link.",
        ),
    };
    let mut paragraphs = vec![first.to_owned()];
    if let Some(until) = facts.hold_expires_at {
        let until = moment(locale, until, facts.timezone);
        paragraphs.push(if ar {
            format!("يعمل الرابط مرة واحدة حتى {until}، ثم ينتهي الحجز المؤقت.")
        } else {
            format!("The link works once, until {until}, when the hold ends.")
        });
    }
    let rows = vec![
        (
            if ar {
                "مقدم الخدمة"
            } else {
                "Provider"
            }
            .to_owned(),
            facts.provider_name.clone(),
        ),
        (
            if ar { "ما حُجز" } else { "Booked" }.to_owned(),
            facts.unit_name.clone(),
        ),
        (
            if ar { "من" } else { "From" }.to_owned(),
            moment(locale, facts.start, facts.timezone),
        ),
        (
            if ar { "إلى" } else { "To" }.to_owned(),
            moment(locale, facts.end, facts.timezone),
        ),
    ];
    templates::receipt(
        locale,
        &facts.guest_name,
        Receipt {
            subject,
            reference: Some(facts.reference.clone()),
            paragraphs,
            rows,
            amounts: vec![(
                if ar { "الإجمالي" } else { "Total" }.to_owned(),
                sar(facts.total),
            )],
            notes: None,
            link: Some(Link { label, url }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn facts() -> BookingFacts {
        BookingFacts {
            reference: "WS-7K3F9Q".into(),
            guest_name: "Sara".into(),
            provider_name: "Jeddah Corniche Hotel".into(),
            unit_name: "Deluxe room".into(),
            hotel: true,
            address: String::new(),
            timezone: chrono_tz::Asia::Riyadh,
            start: "2026-12-06T12:00:00Z".parse().unwrap(),
            end: "2026-12-08T09:00:00Z".parse().unwrap(),
            check_in: None,
            check_out: None,
            guests: Some(2),
            rooms: 1,
            total: Decimal::new(103_500, 2),
            at_provider: Decimal::ZERO,
            refund: None,
            hold_expires_at: Some("2026-12-01T08:15:00Z".parse().unwrap()),
            no_show_fee: None,
            prepaid: true,
            cancellation: Vec::new(),
        }
    }

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        assert_eq!(
            link_url("https://wasit.sa/", LinkKind::Pay, "t0k3n"),
            "https://wasit.sa/#/pay/t0k3n"
        );
        assert_eq!(
            link_url("https://wasit.sa/", LinkKind::Consent, "t0k3n"),
            "https://wasit.sa/#/consent/t0k3n"
        );
    }

    #[test]
    fn texts_and_mails_name_the_booking_the_amount_and_the_link_in_both_languages() {
        let url = "https://wasit.sa/#/consent/t0k3n";
        for kind in [LinkKind::Consent, LinkKind::Pay] {
            for locale in [Locale::Ar, Locale::En] {
                let body = text(kind, locale, &facts(), url);
                assert!(
                    body.contains("WS-7K3F9Q") && body.contains("1035.00"),
                    "{body}"
                );
                assert!(body.ends_with(url), "{body}");
                let mail = render(kind, locale, &facts(), url);
                assert!(mail.text.contains(url) && mail.html.contains(url));
            }
        }
    }
}
