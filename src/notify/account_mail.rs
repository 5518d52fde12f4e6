//! Account emails: the link that verifies an address and the link that resets a password,
//! in the account's language. Queued where the link is made, rendered when sent, one
//! stable Message-ID per link. Nothing goes out for a link already used or expired, or for
//! an account disabled since.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use uuid::Uuid;

use super::dates::ltr;
use super::email::{MailError, Mailer};
use super::templates::{self, Link, Receipt, Rendered};
use crate::auth::link_store;
use crate::auth::links::{LinkKeys, LinkPurpose};
use crate::db::{PgPool, run_blocking};
use crate::domain::Locale;
use crate::schema::users;

/// Renders and sends the mail of link `link_id`, if it can still be used.
pub async fn send_account_email(
    pool: &PgPool,
    mailer: &Mailer,
    keys: &LinkKeys,
    link_id: Uuid,
) -> Result<(), MailError> {
    let loaded = run_blocking(pool, move |conn| {
        let Some(link) = link_store::find_link(conn, link_id)? else {
            return Ok(None);
        };
        let reader: Option<(String, Locale)> = users::table
            .find(link.user_id)
            .filter(users::disabled_at.is_null())
            .select((users::full_name, users::locale))
            .first(conn)
            .optional()?;
        Ok(reader.map(|reader| (link, reader)))
    })
    .await?;
    let Some((link, (name, locale))) = loaded else {
        return Ok(());
    };
    if link.used_at.is_some() || link.expires_at <= Utc::now() {
        return Ok(());
    }
    let url = link_url(&mailer.site_url, link.purpose, &keys.token(link.id));
    let rendered = render(
        link.purpose,
        locale,
        &name,
        &url,
        link.expires_at - link.created_at,
    );
    let to: Mailbox = link.email.parse()?;
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(rendered.subject)
        .message_id(Some(format!(
            "<{}.{link_id}@{}>",
            link.purpose.as_str().replace('_', "-"),
            mailer.domain
        )))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))
        .map_err(|e| MailError::Build(e.to_string()))?;
    mailer.send(message).await
}

/// The site's page for the link, with the token in the fragment: a fragment is never sent
/// to a server, so the token stays out of access logs and `Referer` headers.
fn link_url(site_url: &str, purpose: LinkPurpose, token: &str) -> String {
    let page = match purpose {
        LinkPurpose::VerifyEmail => "verify-email",
        LinkPurpose::ResetPassword => "reset-password",
    };
    format!("{site_url}#/{page}?token={token}")
}

/// Subject, link label and paragraphs (the link goes after the first).
fn words(
    purpose: LinkPurpose,
    locale: Locale,
    lifetime: Duration,
) -> (String, &'static str, Vec<String>) {
    let hours = lifetime.num_hours();
    let minutes = lifetime.num_minutes();
    match (locale, purpose) {
        (Locale::Ar, LinkPurpose::VerifyEmail) => (
            "أكّد بريدك الإلكتروني في وسيط".into(),
            "تأكيد البريد الإلكتروني",
            vec![
                "شكراً لتسجيلك في وسيط. لتأكيد أن هذا البريد لك، افتح الرابط التالي:".into(),
                format!(
                    "ينتهي الرابط بعد {} ساعة ولا يعمل إلا مرة واحدة. إلى أن تؤكد بريدك يمكنك الحجز في فنادقنا وعياداتنا، لا لدى المزوّدين الشركاء.",
                    ltr(hours)
                ),
                "إن لم تنشئ حساباً في وسيط فتجاهل هذه الرسالة.".into(),
            ],
        ),
        (Locale::Ar, LinkPurpose::ResetPassword) => (
            "إعادة تعيين كلمة المرور في وسيط".into(),
            "اختيار كلمة مرور جديدة",
            vec![
                "طُلبت إعادة تعيين كلمة المرور لحسابك. لاختيار كلمة مرور جديدة افتح الرابط التالي:".into(),
                format!(
                    "ينتهي الرابط بعد {} دقيقة ولا يعمل إلا مرة واحدة، وتعيين كلمة مرور جديدة يُنهي كل جلساتك المفتوحة.",
                    ltr(minutes)
                ),
                "إن لم تطلب ذلك فتجاهل هذه الرسالة؛ تبقى كلمة مرورك كما هي.".into(),
            ],
        ),
        (Locale::En, LinkPurpose::VerifyEmail) => (
            "Confirm your email address for Wasit".into(),
            "Confirm my email",
            vec![
                "Thank you for signing up with Wasit. To confirm this address is yours, open this link:".into(),
                format!(
                    "The link works once and expires in {hours} hours. Until you confirm, you can book our own hotels and clinics but not our partner providers."
                ),
                "If you did not sign up with Wasit, ignore this message.".into(),
            ],
        ),
        (Locale::En, LinkPurpose::ResetPassword) => (
            "Reset your Wasit password".into(),
            "Choose a new password",
            vec![
                "Someone asked to reset the password of your account. To choose a new one, open this link:".into(),
                format!(
                    "The link works once and expires in {minutes} minutes; setting a new password signs you out everywhere."
                ),
                "If you did not ask for this, ignore this message; your password stays as it is.".into(),
            ],
        ),
    }
}

fn render(
    purpose: LinkPurpose,
    locale: Locale,
    name: &str,
    url: &str,
    lifetime: Duration,
) -> Rendered {
    let (subject, label, paragraphs) = words(purpose, locale, lifetime);
    let valid = match (locale, purpose) {
        (Locale::Ar, LinkPurpose::VerifyEmail) => format!("{} ساعة", ltr(lifetime.num_hours())),
        (Locale::Ar, LinkPurpose::ResetPassword) => {
            format!("{} دقيقة", ltr(lifetime.num_minutes()))
        }
        (Locale::En, LinkPurpose::VerifyEmail) => format!("{} hours", lifetime.num_hours()),
        (Locale::En, LinkPurpose::ResetPassword) => format!("{} minutes", lifetime.num_minutes()),
    };
    let rows = vec![(
        if locale == Locale::Ar {
            "صلاحية الرابط"
        } else {
            "The link works for"
        }
        .to_owned(),
        valid,
    )];
    templates::receipt(
        locale,
        name,
        Receipt {
            subject,
            reference: None,
            paragraphs,
            rows,
            amounts: Vec::new(),
            notes: None,
            link: Some(Link { label, url }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        assert_eq!(
            link_url("https://wasit.sa/", LinkPurpose::ResetPassword, "abc_-1"),
            "https://wasit.sa/#/reset-password?token=abc_-1"
        );
    }

    #[test]
    fn both_mails_exist_in_both_languages_with_the_link_and_the_lifetime() {
        let url = "https://wasit.sa/#/verify-email?token=t0k3n";
        for purpose in [LinkPurpose::VerifyEmail, LinkPurpose::ResetPassword] {
            for locale in [Locale::Ar, Locale::En] {
                let mail = render(purpose, locale, "سارة <b>", url, Duration::minutes(30));
                assert!(mail.text.contains(url), "{purpose:?} {locale:?}");
                assert!(mail.html.contains(&format!("href=\"{url}\"")));
                assert!(mail.html.contains("&lt;b&gt;"), "the name is escaped");
                if purpose == LinkPurpose::ResetPassword {
                    assert!(mail.text.contains("30"), "{}", mail.text);
                }
            }
        }
        let arabic = render(
            LinkPurpose::VerifyEmail,
            Locale::Ar,
            "سارة",
            url,
            Duration::hours(48),
        );
        assert!(
            arabic.html.contains("dir=\"rtl\"") && arabic.text.contains("\u{2066}48\u{2069} ساعة")
        );
    }
}
