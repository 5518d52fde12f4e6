//! A booking's texts: its confirmation and its reminder, short, in the customer's language,
//! with the reference. Arabic texts isolate every run of digits and Latin (U+2066…U+2069) so
//! a reference or a date keeps its order; English texts stay in GSM-7 (no isolates), one part.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::outbox::{self, NewSms};
use crate::bookings::store::BookingRow;
use crate::db::{PgPool, run_blocking};
use crate::domain::Locale;
use crate::domain::text::one_line;
use crate::error::ApiError;
use crate::jobs::BookingEmail;
use crate::notify::dates::ltr;
use crate::notify::email::booking_facts;
use crate::notify::templates::BookingFacts;
use crate::schema::{bookings, customers};

/// The events a booking is texted about, and the purpose each message records.
fn purpose(event: BookingEmail) -> Option<&'static str> {
    match event {
        BookingEmail::Confirmed => Some("booking_confirmed"),
        BookingEmail::Reminder => Some("booking_reminder"),
        BookingEmail::WaitlistOffer => Some("waitlist_offer"),
        _ => None,
    }
}

/// Job: queues the booking's text for `event` to its customer's phone (once per booking and
/// event), subject to their consent (`outbox::queue`). No phone: nothing. `site_url` is the
/// customer site a waitlist offer's text links to.
pub async fn queue_booking_sms(
    pool: &PgPool,
    site_url: &str,
    booking_id: Uuid,
    event: BookingEmail,
) -> Result<(), ApiError> {
    let Some(purpose) = purpose(event) else {
        return Ok(());
    };
    let offer_url = format!("{site_url}#/booking/{booking_id}");
    run_blocking(pool, move |conn| {
        let booking: BookingRow = bookings::table
            .find(booking_id)
            .select(BookingRow::as_select())
            .first(conn)?;
        let (phone, locale): (Option<String>, Locale) = customers::table
            .find(booking.customer_id)
            .select((customers::phone, customers::locale))
            .first(conn)?;
        let Some(phone) = phone else { return Ok(()) };
        let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
        let facts = booking_facts(&booking, &provider, locale, None);
        let body = text(event, locale, &facts, &offer_url);
        conn.transaction(|conn| {
            outbox::queue(
                conn,
                &NewSms {
                    customer_id: booking.customer_id,
                    to: &phone,
                    body: &body,
                    purpose,
                    dedup_key: &format!("{purpose}:{booking_id}"),
                },
            )
        })?;
        Ok(())
    })
    .await
}

/// When, as a text says it: a stay's first day, an appointment's day and time, local.
fn when(locale: Locale, hotel: bool, start: DateTime<Utc>, timezone: Tz) -> String {
    let local = start.with_timezone(&timezone);
    let (day, time) = match locale {
        Locale::Ar => (local.format("%Y-%m-%d"), local.format("%H:%M")),
        Locale::En => (local.format("%-d %b %Y"), local.format("%H:%M")),
    };
    let when = if hotel {
        day.to_string()
    } else {
        format!("{day} {time}")
    };
    match locale {
        Locale::Ar => ltr(when),
        Locale::En => when,
    }
}

fn text(event: BookingEmail, locale: Locale, facts: &BookingFacts, offer_url: &str) -> String {
    let provider = one_line(&facts.provider_name).into_owned();
    let when = when(locale, facts.hotel, facts.start, facts.timezone);
    let reference = &facts.reference;
    match (locale, event) {
        (Locale::Ar, BookingEmail::Reminder) => format!(
            "تذكير من وسيط: حجزك {} لدى {provider} يبدأ {when}. لإيقاف الرسائل أرسل إيقاف",
            ltr(reference)
        ),
        (Locale::Ar, BookingEmail::WaitlistOffer) => format!(
            "وسيط: أتيح مكان من قائمة الانتظار لدى {provider}، {when}. حجزناه لك {} لوقت قصير، ادفع ليصبح لك: {} لإيقاف الرسائل أرسل إيقاف",
            ltr(reference),
            ltr(offer_url)
        ),
        (Locale::Ar, _) => format!(
            "وسيط: تأكد حجزك {} لدى {provider}، {when}. لإيقاف الرسائل أرسل إيقاف",
            ltr(reference)
        ),
        (Locale::En, BookingEmail::Reminder) => format!(
            "Wasit reminder: booking {reference} at {provider} starts {when}. Reply STOP to opt out"
        ),
        (Locale::En, BookingEmail::WaitlistOffer) => format!(
            "Wasit: a place opened up at {provider}, {when}. Held for you as {reference} for a short time; pay to take it: {offer_url} Reply STOP to opt out"
        ),
        (Locale::En, _) => format!(
            "Wasit: booking {reference} at {provider} is confirmed, {when}. Reply STOP to opt out"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::sms::segments::{Encoding, count};
    use rust_decimal::Decimal;

    fn facts(hotel: bool) -> BookingFacts {
        BookingFacts {
            reference: "WS-7K3F9Q".into(),
            guest_name: "Sara".into(),
            provider_name: "Jeddah Corniche Hotel".into(),
            unit_name: String::new(),
            hotel,
            address: String::new(),
            timezone: chrono_tz::Asia::Riyadh,
            start: "2026-12-06T07:30:00Z".parse().unwrap(),
            end: "2026-12-07T21:00:00Z".parse().unwrap(),
            check_in: None,
            check_out: None,
            guests: Some(2),
            rooms: 1,
            total: Decimal::ZERO,
            at_provider: Decimal::ZERO,
            refund: None,
            hold_expires_at: None,
            no_show_fee: None,
            prepaid: true,
            cancellation: Vec::new(),
        }
    }

    #[test]
    fn english_texts_are_one_gsm7_part_with_the_reference_and_no_isolates() {
        for event in [BookingEmail::Confirmed, BookingEmail::Reminder] {
            let body = text(event, Locale::En, &facts(true), "");
            assert!(
                body.contains("WS-7K3F9Q") && body.contains("6 Dec 2026"),
                "{body}"
            );
            let counted = count(&body);
            assert_eq!(
                (counted.encoding, counted.parts),
                (Encoding::Gsm7, 1),
                "{body}"
            );
        }
    }

    #[test]
    fn arabic_texts_isolate_the_reference_and_the_time() {
        let body = text(BookingEmail::Reminder, Locale::Ar, &facts(false), "");
        assert!(body.contains("\u{2066}WS-7K3F9Q\u{2069}"), "{body}");
        assert!(body.contains("\u{2066}2026-12-06 10:30\u{2069}"), "{body}");
        let counted = count(&body);
        assert_eq!(
            (counted.encoding, counted.parts),
            (Encoding::Ucs2, 2),
            "{body}"
        );
    }
}
