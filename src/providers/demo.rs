//! `wasit seed-demo`: a realistic office to click through — hotels in Riyadh, Jeddah and
//! Makkah and two hospitals with several clinics, open for the next 60 days. All `local`,
//! so the demo needs no outside server. Seeds only an empty providers table.

use chrono::{Duration, NaiveDate, NaiveTime, Weekday};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::local::{self, ClinicHours};
use super::model::ProviderKind;
use super::service::new_webhook_secret;
use super::store::{self, NewProviderRow, NewUnitRow};
use crate::schema::providers;

const DAYS_OPEN: i64 = 60;

struct DemoHotel {
    city: &'static str,
    name_ar: &'static str,
    name_en: &'static str,
    /// (Arabic, English)
    address: (&'static str, &'static str),
    /// (latitude, longitude)
    position: (f64, f64),
    /// (code, Arabic name, English name, max guests, rooms, nightly price)
    rooms: &'static [(&'static str, &'static str, &'static str, i32, i32, i64)],
}

struct DemoHospital {
    city: &'static str,
    name_ar: &'static str,
    name_en: &'static str,
    /// (Arabic, English)
    address: (&'static str, &'static str),
    /// (latitude, longitude)
    position: (f64, f64),
    /// (code, Arabic name, English name, specialty, practitioner, slot minutes, price)
    clinics: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        i32,
        i64,
    )],
}

const HOTELS: &[DemoHotel] = &[
    DemoHotel {
        city: "riyadh",
        name_ar: "أجنحة العليا",
        name_en: "Olaya Suites",
        address: (
            "طريق العليا، حي العليا، الرياض 12214",
            "Olaya Road, Al Olaya, Riyadh 12214",
        ),
        position: (24.6945, 46.6855),
        rooms: &[
            (
                "deluxe-king",
                "غرفة ديلوكس بسرير كبير",
                "Deluxe King Room",
                2,
                12,
                650,
            ),
            (
                "executive-suite",
                "جناح تنفيذي",
                "Executive Suite",
                4,
                4,
                1400,
            ),
        ],
    },
    DemoHotel {
        city: "riyadh",
        name_ar: "فندق قصر الدرعية",
        name_en: "Diriyah Palace Hotel",
        address: (
            "طريق الملك خالد، حي الطريف، الدرعية 13711",
            "King Khalid Road, At-Turaif, Diriyah 13711",
        ),
        position: (24.7335, 46.5757),
        rooms: &[
            ("standard", "غرفة قياسية", "Standard Room", 2, 20, 420),
            ("family", "غرفة عائلية", "Family Room", 5, 6, 780),
        ],
    },
    DemoHotel {
        city: "jeddah",
        name_ar: "فندق كورنيش جدة",
        name_en: "Jeddah Corniche Hotel",
        address: (
            "طريق الكورنيش، حي الشاطئ، جدة 23414",
            "Corniche Road, Ash Shati, Jeddah 23414",
        ),
        position: (21.5680, 39.1100),
        rooms: &[
            (
                "sea-view",
                "غرفة بإطلالة على البحر",
                "Sea View Room",
                2,
                15,
                890,
            ),
            (
                "corniche-suite",
                "جناح الكورنيش",
                "Corniche Suite",
                4,
                3,
                2100,
            ),
        ],
    },
    DemoHotel {
        city: "jeddah",
        name_ar: "نزل البلد",
        name_en: "Al-Balad Inn",
        address: (
            "شارع الذهب، حي البلد التاريخي، جدة 22234",
            "Al Dhahab Street, Historic Al-Balad, Jeddah 22234",
        ),
        position: (21.4830, 39.1870),
        rooms: &[("heritage", "غرفة تراثية", "Heritage Room", 2, 8, 380)],
    },
    DemoHotel {
        city: "makkah",
        name_ar: "فندق أبراج الحرم",
        name_en: "Haram Towers Hotel",
        address: (
            "طريق إبراهيم الخليل، حي أجياد، مكة المكرمة 24231",
            "Ibrahim Al Khalil Road, Ajyad, Makkah 24231",
        ),
        position: (21.4180, 39.8260),
        rooms: &[
            (
                "haram-view",
                "غرفة مطلة على الحرم",
                "Haram View Room",
                3,
                25,
                1650,
            ),
            ("quad", "غرفة رباعية", "Quad Room", 4, 30, 950),
        ],
    },
    DemoHotel {
        city: "makkah",
        name_ar: "فندق العزيزية",
        name_en: "Al Aziziyah Hotel",
        address: (
            "شارع العزيزية العام، حي العزيزية، مكة المكرمة 24243",
            "Al Aziziyah Main Street, Al Aziziyah, Makkah 24243",
        ),
        position: (21.4020, 39.8770),
        rooms: &[("triple", "غرفة ثلاثية", "Triple Room", 3, 40, 340)],
    },
];

const HOSPITALS: &[DemoHospital] = &[
    DemoHospital {
        city: "riyadh",
        name_ar: "مستشفى النخيل التخصصي",
        name_en: "Al Nakheel Specialist Hospital",
        address: (
            "طريق الملك فهد، حي النخيل، الرياض 12382",
            "King Fahd Road, An Nakheel, Riyadh 12382",
        ),
        position: (24.7460, 46.6350),
        clinics: &[
            (
                "cardiology-al-qahtani",
                "عيادة القلب - د. أحمد القحطاني",
                "Cardiology - Dr. Ahmed Al-Qahtani",
                "cardiology",
                "Dr. Ahmed Al-Qahtani",
                30,
                350,
            ),
            (
                "dermatology-al-otaibi",
                "عيادة الجلدية - د. ريم العتيبي",
                "Dermatology - Dr. Reem Al-Otaibi",
                "dermatology",
                "Dr. Reem Al-Otaibi",
                20,
                250,
            ),
            (
                "pediatrics-al-harbi",
                "عيادة الأطفال - د. فيصل الحربي",
                "Pediatrics - Dr. Faisal Al-Harbi",
                "pediatrics",
                "Dr. Faisal Al-Harbi",
                20,
                200,
            ),
            (
                "orthopedics-al-dosari",
                "عيادة العظام - د. سارة الدوسري",
                "Orthopedics - Dr. Sara Al-Dosari",
                "orthopedics",
                "Dr. Sara Al-Dosari",
                30,
                300,
            ),
        ],
    },
    DemoHospital {
        city: "jeddah",
        name_ar: "مستشفى البحر الأحمر",
        name_en: "Red Sea Hospital",
        address: (
            "طريق الأمير سلطان، حي الروضة، جدة 23434",
            "Prince Sultan Road, Ar Rawdah, Jeddah 23434",
        ),
        position: (21.5570, 39.1560),
        clinics: &[
            (
                "cardiology-al-zahrani",
                "عيادة القلب - د. خالد الزهراني",
                "Cardiology - Dr. Khalid Al-Zahrani",
                "cardiology",
                "Dr. Khalid Al-Zahrani",
                30,
                320,
            ),
            (
                "ophthalmology-al-ghamdi",
                "عيادة العيون - د. نورة الغامدي",
                "Ophthalmology - Dr. Noura Al-Ghamdi",
                "ophthalmology",
                "Dr. Noura Al-Ghamdi",
                20,
                280,
            ),
            (
                "family-medicine-basha",
                "طب الأسرة - د. عمر باشا",
                "Family Medicine - Dr. Omar Basha",
                "family-medicine",
                "Dr. Omar Basha",
                15,
                150,
            ),
            (
                "dentistry-al-shehri",
                "عيادة الأسنان - د. لمى الشهري",
                "Dentistry - Dr. Lama Al-Shehri",
                "dentistry",
                "Dr. Lama Al-Shehri",
                45,
                400,
            ),
        ],
    },
];

/// What was seeded: (providers, units, cells), or `None` when providers already existed.
pub fn seed(
    conn: &mut PgConnection,
    today: NaiveDate,
) -> anyhow::Result<Option<(usize, usize, usize)>> {
    conn.transaction(|conn| {
        let existing: i64 = providers::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(None);
        }
        let open = Open {
            today,
            until: today + Duration::days(DAYS_OPEN),
            timezone: chrono_tz::Asia::Riyadh,
        };
        let (mut unit_count, mut cells) = (0, 0);
        for hotel in HOTELS {
            let (units, opened) = seed_hotel(conn, hotel, &open)?;
            unit_count += units;
            cells += opened;
        }
        let hours = clinic_hours();
        for hospital in HOSPITALS {
            let (units, opened) = seed_hospital(conn, hospital, &hours, &open)?;
            unit_count += units;
            cells += opened;
        }
        Ok(Some((HOTELS.len() + HOSPITALS.len(), unit_count, cells)))
    })
}

/// The days every demo unit is open, in the demo's one time zone.
struct Open {
    today: NaiveDate,
    until: NaiveDate,
    timezone: chrono_tz::Tz,
}

/// One hotel with its room types, each open every night: (units, cells).
fn seed_hotel(
    conn: &mut PgConnection,
    hotel: &DemoHotel,
    open: &Open,
) -> anyhow::Result<(usize, usize)> {
    let provider = store::insert_provider(
        conn,
        &new_provider(
            ProviderKind::Hotel,
            hotel.city,
            (hotel.name_ar, hotel.name_en),
            hotel.address,
            hotel.position,
        )?,
    )?;
    save_photo(conn, provider.id, hotel.name_en)?;
    let mut cells = 0;
    for (code, name_ar, name_en, max_guests, rooms, price) in hotel.rooms {
        let unit = store::insert_unit(
            conn,
            &NewUnitRow {
                provider_id: provider.id,
                code: (*code).into(),
                kind: "room_type".into(),
                name_ar: (*name_ar).into(),
                name_en: (*name_en).into(),
                max_guests: Some(*max_guests),
                rooms: Some(*rooms),
                nightly_price: Some(Decimal::from(*price)),
                specialty: None,
                practitioner: None,
                slot_minutes: None,
                price: None,
                // The demo's room types price a third adult and children by age.
                occupancy_rates: Some(serde_json::json!({
                    "base_adults": 2,
                    "extra_adult": "100.00",
                    "child_bands": [{ "up_to_age": 5, "nightly": "0" }, { "up_to_age": 11, "nightly": "50.00" }],
                })),
            },
        )?;
        cells += local::open_nights(conn, unit.id, open.today, open.until, *rooms, open.timezone)?;
    }
    Ok((hotel.rooms.len(), cells))
}

/// Clinic hours of the demo: Sunday to Thursday, 9 to 4.
fn clinic_hours() -> ClinicHours {
    ClinicHours {
        day_start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        day_end: NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default(),
        weekdays: vec![
            Weekday::Sun,
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
        ],
    }
}

/// One hospital with its clinics, each open in clinic hours: (units, cells).
fn seed_hospital(
    conn: &mut PgConnection,
    hospital: &DemoHospital,
    hours: &ClinicHours,
    open: &Open,
) -> anyhow::Result<(usize, usize)> {
    let provider = store::insert_provider(
        conn,
        &new_provider(
            ProviderKind::Hospital,
            hospital.city,
            (hospital.name_ar, hospital.name_en),
            hospital.address,
            hospital.position,
        )?,
    )?;
    save_photo(conn, provider.id, hospital.name_en)?;
    let mut cells = 0;
    for (code, name_ar, name_en, specialty, practitioner, minutes, price) in hospital.clinics {
        let unit = store::insert_unit(
            conn,
            &NewUnitRow {
                provider_id: provider.id,
                code: (*code).into(),
                kind: "clinic_service".into(),
                name_ar: (*name_ar).into(),
                name_en: (*name_en).into(),
                max_guests: None,
                rooms: None,
                nightly_price: None,
                specialty: Some((*specialty).into()),
                practitioner: Some((*practitioner).into()),
                slot_minutes: Some(*minutes),
                price: Some(Decimal::from(*price)),
                occupancy_rates: None,
            },
        )?;
        cells += local::open_slots(
            conn,
            unit.id,
            open.today,
            open.until,
            *minutes,
            hours,
            open.timezone,
        )?;
    }
    Ok((hospital.clinics.len(), cells))
}

fn new_provider(
    kind: ProviderKind,
    city: &str,
    (name_ar, name_en): (&str, &str),
    (address_ar, address_en): (&str, &str),
    (latitude, longitude): (f64, f64),
) -> anyhow::Result<NewProviderRow> {
    // Demo hotels check in at 15:00 and out at 12:00; an appointment has its own time.
    let hotel_time = |hour| {
        (kind == ProviderKind::Hotel)
            .then(|| NaiveTime::from_hms_opt(hour, 0, 0))
            .flatten()
    };
    Ok(NewProviderRow {
        kind,
        name_ar: name_ar.into(),
        name_en: name_en.into(),
        city: city.into(),
        timezone: "Asia/Riyadh".into(),
        adapter: "local".into(),
        adapter_settings: serde_json::json!({}),
        webhook_url: None,
        webhook_secret: new_webhook_secret().map_err(|e| anyhow::anyhow!("{e}"))?,
        cancellation_policy: None,
        change_policy: None,
        // Demo hotels are paid through us; demo clinics are paid at the reception.
        prepaid: Some(kind == ProviderKind::Hotel),
        no_show_fee: None,
        address_ar: address_ar.into(),
        address_en: address_en.into(),
        check_in_time: hotel_time(15),
        check_out_time: hotel_time(12),
        latitude: Some(latitude),
        longitude: Some(longitude),
    })
}

/// The demo's photo of a provider: an image drawn from its name (nothing fetched).
fn save_photo(conn: &mut PgConnection, provider_id: uuid::Uuid, name: &str) -> anyhow::Result<()> {
    let png = super::demo_photo::png_for(name)?;
    super::photos::save_photo(conn, provider_id, super::photos::ImageType::Png, &png)?;
    Ok(())
}
