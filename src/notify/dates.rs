//! Dates and times as emails write them: the weekday, the Gregorian date and the Umm
//! al-Qura (Hijri) date beside it, in the reader's language, with Latin digits (the same
//! digits as the site, and as the reference and amounts a customer reads back on the phone).
//! Every run of digits a reader must not see reversed is isolated with [`ltr`].

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use icu_calendar::Date;
use icu_calendar::cal::Hijri;

use crate::domain::Locale;

/// A left-to-right isolate (U+2066 … U+2069) around `text`: a number, an amount, a time or
/// a reference keeps its order inside Arabic. The layout turns it into `<bdi dir="ltr">`
/// in HTML and keeps it in the plain-text part (names never hold isolates: the text rules
/// refuse them and `one_line` drops old ones).
pub fn ltr(text: impl std::fmt::Display) -> String {
    format!("\u{2066}{text}\u{2069}")
}

const GREGORIAN_AR: [&str; 12] = [
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
];
const HIJRI_AR: [&str; 12] = [
    "محرم",
    "صفر",
    "ربيع الأول",
    "ربيع الآخر",
    "جمادى الأولى",
    "جمادى الآخرة",
    "رجب",
    "شعبان",
    "رمضان",
    "شوال",
    "ذو القعدة",
    "ذو الحجة",
];
const HIJRI_EN: [&str; 12] = [
    "Muharram",
    "Safar",
    "Rabi al-Awwal",
    "Rabi al-Thani",
    "Jumada al-Ula",
    "Jumada al-Akhirah",
    "Rajab",
    "Shaban",
    "Ramadan",
    "Shawwal",
    "Dhu al-Qadah",
    "Dhu al-Hijjah",
];

fn weekday_ar(day: Weekday) -> &'static str {
    match day {
        Weekday::Sun => "الأحد",
        Weekday::Mon => "الاثنين",
        Weekday::Tue => "الثلاثاء",
        Weekday::Wed => "الأربعاء",
        Weekday::Thu => "الخميس",
        Weekday::Fri => "الجمعة",
        Weekday::Sat => "السبت",
    }
}

/// The Umm al-Qura date of a day: (year, month 1–12, day).
pub fn hijri(date: NaiveDate) -> Option<(i32, usize, u8)> {
    let month = u8::try_from(date.month()).ok()?;
    let day = u8::try_from(date.day()).ok()?;
    let iso = Date::try_new_iso(date.year(), month, day).ok()?;
    let hijri = iso.to_calendar(Hijri::new_umm_al_qura());
    Some((
        hijri.era_year().year,
        usize::from(hijri.month().ordinal),
        hijri.day_of_month().0,
    ))
}

/// "Sunday 6 December 2026 (25 Jumada al-Akhirah 1448 AH)", "الأحد 6 ديسمبر 2026 (25 جمادى الآخرة 1448 هـ)".
pub fn day(locale: Locale, date: NaiveDate) -> String {
    let month = date.month0() as usize;
    let hijri = hijri(date).map(|(year, month, day)| match locale {
        Locale::Ar => format!(" ({day} {} {year} هـ)", HIJRI_AR[month - 1]),
        Locale::En => format!(" ({day} {} {year} AH)", HIJRI_EN[month - 1]),
    });
    let gregorian = match locale {
        Locale::Ar => format!(
            "{} {} {} {}",
            weekday_ar(date.weekday()),
            date.day(),
            GREGORIAN_AR[month],
            date.year()
        ),
        Locale::En => date.format("%A %-d %B %Y").to_string(),
    };
    format!("{gregorian}{}", hijri.unwrap_or_default())
}

/// "6 December 2026": a day inside a sentence.
pub fn short_day(locale: Locale, date: NaiveDate) -> String {
    match locale {
        Locale::Ar => format!(
            "{} {} {}",
            date.day(),
            GREGORIAN_AR[date.month0() as usize],
            date.year()
        ),
        Locale::En => date.format("%-d %B %Y").to_string(),
    }
}

/// A time of day, 24 hours, isolated: "15:00".
pub fn clock(at: NaiveTime) -> String {
    ltr(at.format("%H:%M"))
}

/// An instant as a day and a time in `timezone`: "6 December 2026, 10:30".
pub fn moment(locale: Locale, at: DateTime<Utc>, timezone: Tz) -> String {
    let local = at.with_timezone(&timezone);
    format!(
        "{}{} {}",
        short_day(locale, local.date_naive()),
        if locale == Locale::Ar { "،" } else { "," },
        clock(local.time())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_carry_the_weekday_and_the_umm_al_qura_date() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        // 6 December 2026 is 26 Jumada al-Akhirah 1448 (Umm al-Qura).
        assert_eq!(hijri(date), Some((1448, 6, 26)));
        assert_eq!(
            day(Locale::En, date),
            "Sunday 6 December 2026 (26 Jumada al-Akhirah 1448 AH)"
        );
        assert_eq!(
            day(Locale::Ar, date),
            "الأحد 6 ديسمبر 2026 (26 جمادى الآخرة 1448 هـ)"
        );
        let ramadan = NaiveDate::from_ymd_opt(2026, 2, 18).unwrap();
        assert_eq!(hijri(ramadan), Some((1447, 9, 1)));
    }

    #[test]
    fn times_are_isolated() {
        let at = "2026-12-06T07:30:00Z".parse().unwrap();
        assert_eq!(
            moment(Locale::En, at, chrono_tz::Asia::Riyadh),
            "6 December 2026, \u{2066}10:30\u{2069}"
        );
    }
}
