//! Email with lettre: SMTP in production, `.eml` files for development, memory for unit
//! tests. Booking emails are enqueued with the transition that causes them and rendered
//! when sent, in the customer's language. Each (booking, event) has one stable Message-ID,
//! so a retried job sends a duplicate mail clients fold into one, never a second distinct mail.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::templates::{self, BookingEmail, BookingFacts};
use crate::bookings::state::BookingStatus;
use crate::bookings::store::BookingRow;
use crate::config::{EmailBackend, EmailSettings, SmtpTls};
use crate::db::{PgPool, run_blocking};
use crate::domain::Locale;
use crate::error::ApiError;
use crate::providers::model::ProviderKind;
use crate::providers::policy;
use crate::providers::store::ProviderRow;
use crate::schema::{booking_no_shows, bookings, customers, users};
use rust_decimal::Decimal;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
    /// Unit tests only: keeps what would have been sent.
    Memory(Arc<Mutex<Vec<Message>>>),
}

pub struct Mailer {
    transport: Transport,
    pub(super) from: Mailbox,
    /// The right-hand side of our Message-IDs.
    pub(super) domain: String,
    /// The customer site, which links in emails open.
    pub(super) site_url: String,
}

impl Mailer {
    /// The customer site, for links in texts as in emails.
    pub fn site_url(&self) -> &str {
        &self.site_url
    }

    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("email.from: {e}"))?;
        let domain = from.email.domain().to_owned();
        let transport = match settings.backend {
            EmailBackend::File => {
                std::fs::create_dir_all(&settings.file_dir)?;
                Transport::File(AsyncFileTransport::new(PathBuf::from(&settings.file_dir)))
            }
            EmailBackend::Smtp => {
                let tls = match settings.smtp_tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => {
                        Tls::Required(TlsParameters::new(settings.smtp_host.clone())?)
                    }
                    SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(settings.smtp_host.clone())?),
                };
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.smtp_host)
                        .port(settings.smtp_port)
                        .tls(tls)
                        .timeout(Some(std::time::Duration::from_secs(10)));
                if let (Some(user), Some(password)) =
                    (&settings.smtp_username, &settings.smtp_password)
                {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self {
            transport,
            from,
            domain,
            site_url: settings.site_url.clone(),
        })
    }

    pub fn memory(from: &str) -> (Self, Arc<Mutex<Vec<Message>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let from: Mailbox = from.parse().expect("a valid test address");
        let domain = from.email.domain().to_owned();
        (
            Self {
                transport: Transport::Memory(sent.clone()),
                from,
                domain,
                site_url: "http://127.0.0.1:8080/".into(),
            },
            sent,
        )
    }

    pub(super) async fn send(&self, message: Message) -> Result<(), MailError> {
        let sent = self.deliver(message).await;
        crate::metrics::METRICS.email(sent.is_ok());
        sent
    }

    async fn deliver(&self, message: Message) -> Result<(), MailError> {
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ())?,
            Transport::File(file) => file.send(message).await.map(|_| ())?,
            Transport::Memory(sent) => sent.lock().map_err(|_| MailError::Poisoned)?.push(message),
        }
        Ok(())
    }
}

/// Why an email could not be sent; the job retries it.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{}", .0.describe())]
    Database(#[from] ApiError),
    #[error("recipient: {0}")]
    Recipient(#[from] lettre::address::AddressError),
    #[error("building the email: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("mail file: {0}")]
    File(#[from] lettre::transport::file::Error),
    #[error("the memory mailer's lock is poisoned")]
    Poisoned,
}

/// The address a booking's emails go to: its contact email, else its customer's; none for
/// a booking a web customer made themselves while their email is unverified (#14, point 4):
/// until they open the verification link, nothing shows the address is theirs, or that the
/// contact email they typed is anyone's who asked for mail. Staff vouch for the contacts of
/// the bookings they make.
pub(super) fn recipient(
    conn: &mut PgConnection,
    booking: &BookingRow,
) -> QueryResult<Option<String>> {
    if booking.created_by.is_none() && customer_unverified(conn, booking.customer_id)? {
        tracing::info!(booking_id = %booking.id, "no booking mail until the customer's email is verified");
        return Ok(None);
    }
    if let Some(email) = &booking.contact_email {
        return Ok(Some(email.clone()));
    }
    customers::table
        .find(booking.customer_id)
        .select(customers::email)
        .first(conn)
}

/// Whether the customer signs in with an account whose email is not verified yet.
fn customer_unverified(conn: &mut PgConnection, customer_id: Uuid) -> QueryResult<bool> {
    let verified_at: Option<Option<chrono::DateTime<chrono::Utc>>> = customers::table
        .inner_join(users::table.on(users::id.nullable().eq(customers::user_id)))
        .filter(customers::id.eq(customer_id))
        .select(users::email_verified_at)
        .first(conn)
        .optional()?;
    Ok(matches!(verified_at, Some(None)))
}

/// Renders and sends one booking email as the booking stands now.
pub async fn send_booking_email(
    pool: &PgPool,
    mailer: &Mailer,
    booking_id: Uuid,
    event: BookingEmail,
) -> Result<(), MailError> {
    let loaded = run_blocking(pool, move |conn| {
        let booking: BookingRow = bookings::table
            .find(booking_id)
            .select(BookingRow::as_select())
            .first(conn)?;
        let to = recipient(conn, &booking)?;
        let locale: Locale = customers::table
            .find(booking.customer_id)
            .select(customers::locale)
            .first(conn)?;
        let provider = crate::providers::store::find_provider(conn, booking.provider_id)?;
        let no_show_fee: Option<Decimal> = booking_no_shows::table
            .find(booking.id)
            .select(booking_no_shows::fee)
            .first(conn)
            .optional()?;
        Ok((booking, to, locale, provider, no_show_fee))
    })
    .await?;
    let (booking, to, locale, provider, no_show_fee) = loaded;
    let Some(to) = to else { return Ok(()) };
    let to: Mailbox = to.parse()?;
    let facts = booking_facts(&booking, &provider, locale, no_show_fee);
    // Each change of a booking is news of its own: its Message-ID names the booking as changed.
    let occasion = (event == BookingEmail::Changed).then(|| booking.updated_at.timestamp_micros());
    let message = compose(mailer, to, (booking.id, occasion), event, locale, &facts)?;
    mailer.send(message).await
}

/// What the templates (emails and texts) say about `booking`, in `locale` (the other
/// language's name or address when one is missing).
pub(super) fn booking_facts(
    booking: &BookingRow,
    provider: &ProviderRow,
    locale: Locale,
    no_show_fee: Option<Decimal>,
) -> BookingFacts {
    let either = |ar: &str, en: &str| -> String {
        let (first, other) = if locale == Locale::Ar {
            (ar, en)
        } else {
            (en, ar)
        };
        if first.is_empty() { other } else { first }.to_owned()
    };
    let timezone = provider.timezone.parse().unwrap_or(chrono_tz::Asia::Riyadh);
    let live = matches!(
        booking.status,
        BookingStatus::Held | BookingStatus::Pending | BookingStatus::Confirmed
    );
    BookingFacts {
        reference: booking.reference.clone(),
        guest_name: booking.contact_name.clone(),
        provider_name: either(&provider.name_ar, &provider.name_en),
        unit_name: either(&booking.unit_name_ar, &booking.unit_name_en),
        hotel: provider.kind == ProviderKind::Hotel,
        address: either(&provider.address_ar, &provider.address_en),
        timezone,
        start: booking.starts_at,
        end: booking.ends_at,
        check_in: provider.check_in_time,
        check_out: provider.check_out_time,
        guests: booking.guests,
        rooms: booking.quantity,
        total: booking.total,
        at_provider: if provider.prepaid {
            Decimal::ZERO
        } else {
            booking.provider_price
        },
        refund: booking.refund_amount,
        hold_expires_at: booking.hold_expires_at,
        no_show_fee,
        prepaid: provider.prepaid,
        cancellation: if live {
            policy::offer_terms(provider, booking.starts_at, chrono::Utc::now()).cancellation
        } else {
            Vec::new()
        },
    }
}

/// The message for one booking event: text and HTML alternatives in the customer's
/// language, the calendar entry on a confirmation, and the stable Message-ID.
fn compose(
    mailer: &Mailer,
    to: Mailbox,
    (booking_id, occasion): (Uuid, Option<i64>),
    event: BookingEmail,
    locale: Locale,
    facts: &BookingFacts,
) -> Result<Message, MailError> {
    // A waitlist offer links to the held booking's page, where it is paid.
    let offer_url = format!("{}#/booking/{booking_id}", mailer.site_url);
    let link = (event == BookingEmail::WaitlistOffer).then(|| templates::Link {
        label: if locale == Locale::En {
            "Pay to take it"
        } else {
            "ادفع ليصبح لك"
        },
        url: &offer_url,
    });
    let rendered = templates::render_with_link(event, locale, facts, link);
    let alternative = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    let body = if matches!(event, BookingEmail::Confirmed | BookingEmail::Changed) {
        let ics = templates::calendar_entry(facts).into_bytes();
        let content_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
            .map_err(|e| MailError::Build(e.to_string()))?;
        MultiPart::mixed()
            .multipart(alternative)
            .singlepart(Attachment::new(format!("{}.ics", facts.reference)).body(ics, content_type))
    } else {
        alternative
    };
    Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(match occasion {
            Some(at) => format!("<{}-{at}.{booking_id}@{}>", event.as_str(), mailer.domain),
            None => format!("<{}.{booking_id}@{}>", event.as_str(), mailer.domain),
        }))
        .multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use rust_decimal::dec;

    fn facts() -> BookingFacts {
        BookingFacts {
            reference: "WS-7K3F9Q".into(),
            guest_name: "Sara".into(),
            provider_name: "Jeddah Corniche Hotel".into(),
            unit_name: "Sea View Room".into(),
            hotel: true,
            address: "Corniche Road, Jeddah".into(),
            timezone: chrono_tz::Asia::Riyadh,
            start: "2026-12-05T21:00:00Z".parse().unwrap(),
            end: "2026-12-07T21:00:00Z".parse().unwrap(),
            check_in: NaiveTime::from_hms_opt(15, 0, 0),
            check_out: NaiveTime::from_hms_opt(12, 0, 0),
            guests: Some(2),
            rooms: 1,
            total: dec!(628.75),
            at_provider: dec!(0),
            refund: None,
            hold_expires_at: None,
            no_show_fee: None,
            prepaid: true,
            cancellation: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_confirmation_carries_its_calendar_entry_and_a_stable_message_id() {
        let (mailer, sent) = Mailer::memory("Wasit <no-reply@wasit.test>");
        let id = Uuid::new_v4();
        for _ in 0..2 {
            let to: Mailbox = "sara@example.com".parse().unwrap();
            let message = compose(
                &mailer,
                to,
                (id, None),
                BookingEmail::Confirmed,
                Locale::En,
                &facts(),
            )
            .unwrap();
            mailer.send(message).await.unwrap();
        }
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        let raw: Vec<String> = sent
            .iter()
            .map(|m| String::from_utf8_lossy(&m.formatted()).into_owned())
            .collect();
        let expected_id = format!("Message-ID: <confirmed.{id}@wasit.test>");
        assert!(raw.iter().all(|r| r.contains(&expected_id)), "{}", raw[0]);
        assert!(raw[0].contains("filename=\"WS-7K3F9Q.ics\""), "{}", raw[0]);
        assert!(
            raw[0].contains("Content-Type: text/plain")
                && raw[0].contains("Content-Type: text/html")
        );
    }

    #[tokio::test]
    async fn other_events_have_no_attachment() {
        let (mailer, _) = Mailer::memory("Wasit <no-reply@wasit.test>");
        let to: Mailbox = "sara@example.com".parse().unwrap();
        let message = compose(
            &mailer,
            to,
            (Uuid::new_v4(), None),
            BookingEmail::Held,
            Locale::Ar,
            &facts(),
        )
        .unwrap();
        let raw = String::from_utf8_lossy(&message.formatted()).into_owned();
        assert!(!raw.contains(".ics"));
    }
}
