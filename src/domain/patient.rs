//! The patient of a hospital appointment: who will be seen, as the hospital identifies them.
//! A Saudi national ID (citizens) or Iqama number (residents) is ten digits, the first 1 or
//! 2, the last a Luhn check digit; a visitor gives a passport number instead.
//!
//! Digits typed on an Arabic keyboard (Arabic-Indic ٠–٩, or the Persian forms ۰–۹ some
//! phones produce) are read as 0–9, and spaces and dashes are dropped, so the number is
//! stored and sent in one form whatever the keyboard.

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Which document `id_number` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// A Saudi citizen's national ID: ten digits starting with 1.
    NationalId,
    /// A resident's Iqama number: ten digits starting with 2.
    Iqama,
    /// A visitor's passport: 6 to 12 letters and digits.
    Passport,
}

impl IdType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NationalId => "national_id",
            Self::Iqama => "iqama",
            Self::Passport => "passport",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "national_id" => Some(Self::NationalId),
            "iqama" => Some(Self::Iqama),
            "passport" => Some(Self::Passport),
            _ => None,
        }
    }
}

/// The oldest patient we believe in.
const MAX_AGE_YEARS: u32 = 130;

/// A patient as a booking carries it, every part checked. `Debug` masks the number, so a
/// patient that reaches a log line does not take its ID there.
#[derive(Clone, PartialEq, Eq)]
pub struct Patient {
    pub full_name: String,
    pub birth_date: NaiveDate,
    pub id_type: IdType,
    /// Normalised: ASCII digits for a Saudi ID, upper-case letters and digits for a passport.
    pub id_number: String,
    /// A passport's issuing country, ISO 3166-1 alpha-3 (`EGY`), when given.
    pub passport_country: Option<String>,
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patient")
            .field("id_type", &self.id_type)
            .field("id_number", &masked(&self.id_number))
            .finish_non_exhaustive()
    }
}

/// A patient as typed: each part is checked on its own, so one answer names every bad one.
pub struct PatientInput<'a> {
    pub full_name: &'a str,
    pub birth_date: &'a str,
    pub id_type: IdType,
    pub id_number: &'a str,
    pub passport_country: Option<&'a str>,
}

impl Patient {
    /// Checks every part against `today` (the office's date); the errors name the part
    /// (`id_number`, `birth_date`…), for the caller to place under its own path.
    pub fn parse(
        input: &PatientInput<'_>,
        today: NaiveDate,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let full_name = super::text::name(input.full_name, 200)
            .map_err(|reason| errors.push(("full_name", reason)))
            .ok();
        let birth_date = birth_date(input.birth_date, today)
            .map_err(|reason| errors.push(("birth_date", reason.to_owned())))
            .ok();
        let id_number = id_number(input.id_type, input.id_number)
            .map_err(|reason| errors.push(("id_number", reason.to_owned())))
            .ok();
        let passport_country = match (input.id_type, input.passport_country) {
            (_, None) => None,
            (IdType::Passport, Some(raw)) => country(raw)
                .map_err(|reason| errors.push(("passport_country", reason.to_owned())))
                .ok(),
            (_, Some(_)) => {
                errors.push(("passport_country", "is only for a passport".to_owned()));
                None
            }
        };
        match (full_name, birth_date, id_number) {
            (Some(full_name), Some(birth_date), Some(id_number)) if errors.is_empty() => Ok(Self {
                full_name,
                birth_date,
                id_type: input.id_type,
                id_number,
                passport_country,
            }),
            _ => Err(errors),
        }
    }
}

/// `YYYY-MM-DD`, not after `today` and not more than 130 years before it.
fn birth_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let date = NaiveDate::parse_from_str(&digits_as_ascii(raw.trim()), "%Y-%m-%d")
        .map_err(|_| "must be a date, YYYY-MM-DD")?;
    if date > today {
        return Err("must not be in the future");
    }
    let oldest = today
        .checked_sub_months(Months::new(MAX_AGE_YEARS * 12))
        .unwrap_or(NaiveDate::MIN);
    if date < oldest {
        return Err("must be within the last 130 years");
    }
    Ok(date)
}

/// Arabic-Indic and Persian digits as ASCII; everything else as it is.
fn digits_as_ascii(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{0660}'..='\u{0669}' => char::from(b'0' + (c as u32 - 0x0660) as u8),
            '\u{06F0}'..='\u{06F9}' => char::from(b'0' + (c as u32 - 0x06F0) as u8),
            other => other,
        })
        .collect()
}

/// The number in its one stored form: ASCII digits, upper case, no spaces or dashes.
fn compact(raw: &str) -> String {
    digits_as_ascii(raw)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn id_number(id_type: IdType, raw: &str) -> Result<String, &'static str> {
    let number = compact(raw);
    match id_type {
        IdType::Passport => {
            let fits = (6..=12).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_alphanumeric());
            fits.then_some(number)
                .ok_or("must be 6 to 12 letters and digits (a passport number)")
        }
        IdType::NationalId | IdType::Iqama => {
            if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err("must be 10 digits");
            }
            match (id_type, number.as_bytes()[0]) {
                (IdType::NationalId, b'1') | (IdType::Iqama, b'2') => {}
                (IdType::NationalId, _) => {
                    return Err("a national ID starts with 1 (an Iqama number starts with 2)");
                }
                _ => return Err("an Iqama number starts with 2 (a national ID starts with 1)"),
            }
            if !saudi_check_digit_holds(&number) {
                return Err("is not a valid number: its check digit does not match");
            }
            Ok(number)
        }
    }
}

/// The check the National Information Center's numbers carry (Luhn over ten digits): the
/// digits at even indexes from the left (0, 2, …, 8) are doubled and the digits of each
/// product summed, the others added as they are; the total is a multiple of ten.
/// `1000000008` holds (2 + 8), `1000000000` does not.
fn saudi_check_digit_holds(digits: &str) -> bool {
    let total: u32 = digits
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(index, digit)| {
            if index % 2 == 0 {
                let doubled = digit * 2;
                doubled / 10 + doubled % 10
            } else {
                digit
            }
        })
        .sum();
    total.is_multiple_of(10)
}

/// ISO 3166-1 alpha-3, as the NPHIES identifier-country extension and HL7's passport
/// namespaces (`http://hl7.org/fhir/sid/passport-EGY`) name countries: three letters.
fn country(raw: &str) -> Result<String, &'static str> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err("must be the country's three-letter ISO 3166-1 code, e.g. EGY")
    }
}

/// The number with all but its last four characters hidden, for lists and logs.
pub fn masked(id_number: &str) -> String {
    let count = id_number.chars().count();
    id_number
        .chars()
        .enumerate()
        .map(|(index, c)| if index + 4 < count { '•' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    fn input<'a>(id_type: IdType, id_number: &'a str) -> PatientInput<'a> {
        PatientInput {
            full_name: "سارة الحربي",
            birth_date: "1990-05-17",
            id_type,
            id_number,
            passport_country: None,
        }
    }

    fn error_of(input: &PatientInput<'_>) -> Vec<(&'static str, String)> {
        Patient::parse(input, today()).unwrap_err()
    }

    #[test]
    fn the_check_digit_is_luhn_from_the_left() {
        for valid in ["1000000008", "2000000006", "1234567897", "2345678904"] {
            assert!(saudi_check_digit_holds(valid), "{valid} refused");
        }
        for invalid in ["1000000000", "1000000009", "1234567890", "2345678901"] {
            assert!(!saudi_check_digit_holds(invalid), "{invalid} accepted");
        }
    }

    #[test]
    fn valid_saudi_numbers_are_normalised() {
        let citizen = Patient::parse(&input(IdType::NationalId, "1000000008"), today()).unwrap();
        assert_eq!(citizen.id_number, "1000000008");
        assert_eq!(citizen.full_name, "سارة الحربي");
        assert_eq!(
            citizen.birth_date,
            NaiveDate::from_ymd_opt(1990, 5, 17).unwrap()
        );
        for typed in [
            "١٠٠٠٠٠٠٠٠٨",
            "۱۰۰۰۰۰۰۰۰۸",
            " 100 000 0008 ",
            "1000-000-008",
            "١٠٠ ٠٠٠ 0008",
        ] {
            let parsed = Patient::parse(&input(IdType::NationalId, typed), today()).unwrap();
            assert_eq!(parsed.id_number, "1000000008", "{typed:?}");
        }
        let resident = Patient::parse(&input(IdType::Iqama, "2345678904"), today()).unwrap();
        assert_eq!(resident.id_number, "2345678904");
    }

    #[test]
    fn bad_saudi_numbers_name_the_number() {
        for (id_type, number, says) in [
            (IdType::NationalId, "1000000009", "check digit"),
            (IdType::NationalId, "2000000006", "starts with 1"),
            (IdType::Iqama, "1000000008", "starts with 2"),
            (IdType::NationalId, "100000008", "10 digits"),
            (IdType::NationalId, "10000000080", "10 digits"),
            (IdType::NationalId, "100000000A", "10 digits"),
            (IdType::Iqama, "", "10 digits"),
            (IdType::NationalId, "3000000004", "starts with 1"),
        ] {
            let errors = error_of(&input(id_type, number));
            assert_eq!(errors.len(), 1, "{number}: {errors:?}");
            assert_eq!(errors[0].0, "id_number");
            assert!(errors[0].1.contains(says), "{number}: {}", errors[0].1);
        }
    }

    #[test]
    fn passports_are_letters_and_digits_upper_cased() {
        let mut visitor = input(IdType::Passport, " a12 34567 ");
        visitor.passport_country = Some("egy");
        let parsed = Patient::parse(&visitor, today()).unwrap();
        assert_eq!(parsed.id_number, "A1234567");
        assert_eq!(parsed.passport_country.as_deref(), Some("EGY"));
        for bad in ["A123", "A1234567890123", "A12_4567", "ج١٢٣٤٥٦٧"] {
            assert_eq!(
                error_of(&input(IdType::Passport, bad))[0].0,
                "id_number",
                "{bad}"
            );
        }
        visitor.passport_country = Some("EG");
        assert_eq!(error_of(&visitor)[0].0, "passport_country");
        let mut citizen = input(IdType::NationalId, "1000000008");
        citizen.passport_country = Some("SAU");
        assert_eq!(error_of(&citizen)[0].0, "passport_country");
    }

    #[test]
    fn birth_dates_are_past_and_believable() {
        let mut patient = input(IdType::NationalId, "1000000008");
        for (date, ok) in [
            ("2026-12-01", true),
            ("2026-12-02", false),
            ("1896-12-01", true),
            ("1896-11-30", false),
            ("١٩٩٠-٠٥-١٧", true),
            ("17/05/1990", false),
            ("1990-02-30", false),
        ] {
            patient.birth_date = date;
            let parsed = Patient::parse(&patient, today());
            assert_eq!(parsed.is_ok(), ok, "{date}: {parsed:?}");
            if let Err(errors) = parsed {
                assert_eq!(errors[0].0, "birth_date");
            }
        }
    }

    #[test]
    fn every_bad_part_is_named_at_once() {
        let bad = PatientInput {
            full_name: "Eve\u{202E}",
            birth_date: "tomorrow",
            id_type: IdType::Iqama,
            id_number: "123",
            passport_country: None,
        };
        let fields: Vec<_> = error_of(&bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["full_name", "birth_date", "id_number"]);
    }

    #[test]
    fn debug_and_masked_hide_the_number() {
        let patient = Patient::parse(&input(IdType::NationalId, "1000000008"), today()).unwrap();
        let shown = format!("{patient:?}");
        assert!(
            !shown.contains("1000000008") && !shown.contains("سارة"),
            "{shown}"
        );
        assert_eq!(masked("1000000008"), "••••••0008");
        assert_eq!(masked("A12"), "A12");
    }
}
