//! The FHIR adapter against a real FHIR R4 server (Medplum's router, tests/peers/fhir), plus
//! tiny fake servers for the answers a good server never gives. Tests share one server: each
//! creates its own Practitioner, Schedules and Slots, and its adapter knows only those.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::outbound;
use wasit::domain::{IdType, Patient};
use wasit::providers::adapter::AdapterError;
use wasit::providers::fhir::FhirAdapter;
use wasit::providers::model::{
    AvailabilityQuery, BookingRequest, FhirSchedule, FhirSettings, ProviderOffer, ProviderRef,
    SlotQuery, StayQuery,
};

const TZ: Tz = chrono_tz::Asia::Riyadh;
const BOOKING_SYSTEM: &str = "urn:wasit:booking";

fn fhir_url() -> String {
    std::env::var("WASIT_TEST_FHIR_URL").unwrap_or_else(|_| {
        panic!(
            "start the FHIR test server: tests/peers/fhir/start.sh 8103 and export \
             WASIT_TEST_FHIR_URL=http://127.0.0.1:8103/fhir/R4"
        )
    })
}

fn client(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

fn price(text: &str) -> Decimal {
    text.parse().expect("price")
}

fn adapter(base_url: &str, schedules: &[(&str, &str)]) -> FhirAdapter {
    let settings = FhirSettings {
        base_url: base_url.to_owned(),
        bearer_token: None,
        schedules: schedules
            .iter()
            .map(|(id, amount)| FhirSchedule {
                schedule_id: (*id).to_owned(),
                code: None,
                price: price(amount),
            })
            .collect(),
    };
    FhirAdapter::new(settings, TZ, outbound(Duration::from_secs(10)))
}

/// A local day some weeks ahead, so every slot on it is in the future.
pub(crate) fn future_day(days_ahead: u64) -> NaiveDate {
    Utc::now().with_timezone(&TZ).date_naive() + Days::new(days_ahead)
}

pub(crate) fn local(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).expect("time");
    TZ.from_local_datetime(&day.and_time(time))
        .single()
        .expect("one local time")
        .with_timezone(&Utc)
}

fn slots(specialty: Option<&str>, from: NaiveDate, to: NaiveDate) -> AvailabilityQuery {
    AvailabilityQuery::Slots(SlotQuery {
        specialty: specialty.map(str::to_owned),
        from,
        to,
    })
}

fn reference() -> String {
    format!("WS-{}", uuid::Uuid::new_v4().simple())
}

/// A Saudi ID of its own for each `seed` (so Patients on the shared server stay each test's
/// own, and a booking's retry names the same one): `first` (1 a citizen, 2 a resident),
/// eight digits from the seed, then the check digit.
fn saudi_id(first: u32, seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut hasher);
    let random = hasher.finish();
    let mut digits: Vec<u32> = std::iter::once(first)
        .chain((0..8).map(|i| ((random >> (i * 7)) % 10) as u32))
        .collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                (d * 2) / 10 + (d * 2) % 10
            } else {
                *d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits.iter().map(u32::to_string).collect()
}

fn fatima(id_number: &str) -> Patient {
    Patient {
        full_name: "Fatima Al-Harbi".into(),
        birth_date: NaiveDate::from_ymd_opt(1990, 5, 17).unwrap(),
        id_type: IdType::NationalId,
        id_number: id_number.to_owned(),
        passport_country: None,
    }
}

/// The Patient an Appointment's participants name, read back from the server.
async fn patient_of(hospital: &Hospital, appointment: &Value) -> Value {
    let reference = appointment["participant"]
        .as_array()
        .expect("participants")
        .iter()
        .filter_map(|p| p["actor"]["reference"].as_str())
        .find(|r| r.starts_with("Patient/"))
        .unwrap_or_else(|| panic!("no Patient participant in {appointment}"))
        .to_owned();
    hospital.get(&reference).await
}

fn booking(reference: &str, offer: &ProviderOffer) -> BookingRequest {
    BookingRequest {
        reference: reference.to_owned(),
        unit_code: offer.unit_code.clone(),
        slot_ref: offer.slot_ref.clone(),
        start: offer.start,
        end: offer.end,
        quantity: 1,
        guest_name: "Fatima Al-Harbi".into(),
        guest_phone: Some("+966500000001".into()),
        guest_email: Some("fatima@example.com".into()),
        patient: Some(fatima(&saudi_id(1, reference))),
        rooms: Vec::new(),
    }
}

fn slot_refs(offers: &[ProviderOffer]) -> Vec<&str> {
    offers
        .iter()
        .map(|o| o.slot_ref.as_deref().expect("slot_ref"))
        .collect()
}

/// Direct access to the FHIR server, to arrange data and check what the adapter wrote.
pub(crate) struct Hospital {
    pub(crate) base: String,
    http: reqwest::Client,
}

impl Hospital {
    pub(crate) fn new() -> Self {
        Self {
            base: fhir_url().trim_end_matches('/').to_owned(),
            http: client(Duration::from_secs(10)),
        }
    }

    async fn create(&self, resource: Value) -> String {
        let resource_type = resource["resourceType"].as_str().expect("resourceType");
        let response = self
            .http
            .post(format!("{}/{resource_type}", self.base))
            .header("content-type", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await
            .expect("POST");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "POST {resource_type}"
        );
        let created: Value = response.json().await.expect("created JSON");
        created["id"].as_str().expect("id").to_owned()
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/{path}", self.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// The resources of a search (one page: tests keep their results small).
    async fn search(&self, path: &str) -> Vec<Value> {
        let bundle = self.get(path).await;
        assert_eq!(bundle["resourceType"], "Bundle");
        bundle["entry"]
            .as_array()
            .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
            .unwrap_or_default()
    }

    async fn practitioner(&self, prefix: &str, given: &str, family: &str) -> String {
        self.create(json!({
            "resourceType": "Practitioner",
            "name": [{"prefix": [prefix], "given": [given], "family": family}],
        }))
        .await
    }

    /// A Schedule with a SNOMED specialty and a Practitioner actor.
    async fn schedule(&self, code: &str, display: &str, practitioner: &str) -> String {
        self.create(json!({
            "resourceType": "Schedule",
            "active": true,
            "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": code, "display": display}]}],
            "actor": [{"reference": format!("Practitioner/{practitioner}")}],
        }))
        .await
    }

    async fn slot(&self, schedule: &str, start: DateTime<Utc>, status: &str) -> String {
        self.create(json!({
            "resourceType": "Slot",
            "schedule": {"reference": format!("Schedule/{schedule}")},
            "status": status,
            "start": start.to_rfc3339(),
            "end": (start + chrono::Duration::minutes(30)).to_rfc3339(),
        }))
        .await
    }

    /// A cardiology schedule with Dr. Ahmed Ali and free slots at these local times.
    pub(crate) async fn cardiology(&self, starts: &[DateTime<Utc>]) -> (String, Vec<String>) {
        let practitioner = self.practitioner("Dr.", "Ahmed", "Ali").await;
        let schedule = self
            .schedule("394579002", "Cardiology", &practitioner)
            .await;
        let mut slots = Vec::new();
        for start in starts {
            slots.push(self.slot(&schedule, *start, "free").await);
        }
        (schedule, slots)
    }

    pub(crate) async fn bookings(&self, reference: &str) -> Vec<Value> {
        self.search(&format!(
            "Appointment?identifier={BOOKING_SYSTEM}%7C{reference}"
        ))
        .await
    }
}

#[tokio::test]
async fn fhir_search_finds_free_slots_in_the_window_in_order() {
    let hospital = Hospital::new();
    let day = future_day(30);
    let next = day + Days::new(1);
    let practitioner = hospital.practitioner("Dr.", "Ahmed", "Ali").await;
    let schedule = hospital
        .schedule("394579002", "Cardiology", &practitioner)
        .await;
    // Created out of order; the last free one is 23:30 local, 20:30 UTC.
    let ten = hospital.slot(&schedule, local(day, 10, 0), "free").await;
    let nine = hospital.slot(&schedule, local(day, 9, 0), "free").await;
    let late = hospital.slot(&schedule, local(next, 23, 30), "free").await;
    hospital.slot(&schedule, local(next, 11, 0), "busy").await;
    hospital
        .slot(&schedule, local(day - Days::new(1), 23, 0), "free")
        .await;
    hospital
        .slot(&schedule, local(next + Days::new(1), 0, 0), "free")
        .await;
    let yesterday = Utc::now().with_timezone(&TZ).date_naive() - Days::new(1);
    hospital
        .slot(&schedule, local(yesterday, 9, 0), "free")
        .await;

    let adapter = adapter(&fhir_url(), &[(&schedule, "250.00")]);
    let offers = adapter
        .search(&slots(None, day, next))
        .await
        .expect("search");

    assert_eq!(slot_refs(&offers), [&nine, &ten, &late]);
    let first = &offers[0];
    assert_eq!(first.unit_code, schedule);
    assert_eq!(first.unit_name_en, "Cardiology — Dr. Ahmed Ali");
    assert!(!first.unit_name_ar.is_empty());
    assert_eq!(first.specialty.as_deref(), Some("Cardiology"));
    assert_eq!(first.practitioner.as_deref(), Some("Dr. Ahmed Ali"));
    assert_eq!(first.provider_price, price("250.00"));
    assert_eq!(first.quantity, 1);
    assert_eq!(first.start, local(day, 9, 0));
    assert_eq!(first.end, local(day, 9, 30));
    assert_eq!(offers[2].start, local(next, 23, 30));

    // The server has a free slot yesterday; it is past, so it is no offer.
    let past = adapter
        .search(&slots(None, yesterday, yesterday))
        .await
        .expect("search");
    assert_eq!(past, []);

    // Hospitals have no rooms.
    let stay = AvailabilityQuery::Stay(StayQuery {
        check_in: day,
        check_out: next,
        guests: 1,
        rooms: 1,
        occupancy: wasit::domain::occupancy::Occupancy::spread(1, 1),
    });
    assert_eq!(adapter.search(&stay).await.expect("stay"), []);
}

#[tokio::test]
async fn fhir_search_follows_next_links() {
    let hospital = Hospital::new();
    let day = future_day(31);
    let starts: Vec<_> = (0..7).map(|i| local(day, 8 + i, 0)).collect();
    let (schedule, created) = hospital.cardiology(&starts).await;

    // The server really pages: a small _count comes with a next link.
    let page = hospital
        .get(&format!("Slot?schedule=Schedule/{schedule}&_count=3"))
        .await;
    assert_eq!(page["entry"].as_array().map(Vec::len), Some(3));
    let links = page["link"].as_array().expect("links");
    assert!(
        links.iter().any(|l| l["relation"] == "next"),
        "no next link: {page}"
    );

    let adapter = adapter(&fhir_url(), &[(&schedule, "100")]).with_page_size(3);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    assert_eq!(
        slot_refs(&offers),
        created.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn fhir_search_filters_by_specialty_code_or_display() {
    let hospital = Hospital::new();
    let day = future_day(32);
    let (cardiology, _) = hospital.cardiology(&[local(day, 9, 0)]).await;
    // Specialty only as serviceType text, practitioner only as a display name.
    let dermatology = hospital
        .create(json!({
            "resourceType": "Schedule",
            "serviceType": [{"text": "Dermatology"}],
            "actor": [{"display": "Dr. Sara Omar"}],
        }))
        .await;
    hospital.slot(&dermatology, local(day, 10, 0), "free").await;
    // A trailing slash on the base URL is fine too.
    let adapter = adapter(
        &format!("{}/", fhir_url()),
        &[(&cardiology, "250"), (&dermatology, "180")],
    );

    let units = |offers: Vec<ProviderOffer>| -> Vec<String> {
        offers.into_iter().map(|o| o.unit_code).collect()
    };
    let all = adapter.search(&slots(None, day, day)).await.expect("all");
    assert_eq!(units(all.clone()), [cardiology.as_str(), &dermatology]);
    assert_eq!(all[1].unit_name_en, "Dermatology — Dr. Sara Omar");
    assert_eq!(all[1].provider_price, price("180"));
    for (wanted, expected) in [
        ("cardio", vec![cardiology.as_str()]),
        ("394579002", vec![&cardiology]),
        ("DERMA", vec![&dermatology]),
        ("neurology", vec![]),
    ] {
        let offers = adapter
            .search(&slots(Some(wanted), day, day))
            .await
            .expect("search");
        assert_eq!(units(offers), expected, "specialty {wanted}");
    }
}

#[tokio::test]
async fn fhir_book_creates_an_appointment_and_takes_the_slot_once() {
    let hospital = Hospital::new();
    let day = future_day(33);
    let (schedule, created) = hospital
        .cardiology(&[local(day, 9, 0), local(day, 9, 30)])
        .await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    let reference = reference();

    // An offer whose slot has moved since is no longer available.
    let mut moved = booking(&reference, &offers[0]);
    moved.start += chrono::Duration::hours(1);
    moved.end += chrono::Duration::hours(1);
    let result = adapter.book(&moved).await;
    assert!(matches!(result, Err(AdapterError::SoldOut)), "{result:?}");

    let booked = adapter
        .book(&booking(&reference, &offers[0]))
        .await
        .expect("book");
    assert!(booked.0.starts_with("Appointment/"), "{booked:?}");

    let appointments = hospital.bookings(&reference).await;
    assert_eq!(appointments.len(), 1);
    let appointment = &appointments[0];
    assert_eq!(
        format!("Appointment/{}", appointment["id"].as_str().unwrap()),
        booked.0
    );
    assert_eq!(appointment["status"], "booked");
    assert_eq!(
        appointment["slot"][0]["reference"],
        format!("Slot/{}", created[0])
    );
    let actors: Vec<&Value> = appointment["participant"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| &p["actor"])
        .collect();
    assert!(actors.iter().any(|a| a["display"] == "Fatima Al-Harbi"));
    let patient = patient_of(&hospital, appointment).await;
    assert_eq!(
        patient["identifier"][0]["system"],
        "http://nphies.sa/identifier/nationalid"
    );
    assert_eq!(patient["identifier"][0]["value"], saudi_id(1, &reference));
    assert_eq!(patient["name"][0]["text"], "Fatima Al-Harbi");
    assert_eq!(patient["name"][0]["family"], "Al-Harbi");
    assert_eq!(patient["birthDate"], "1990-05-17");
    assert!(actors.iter().any(|a| {
        a["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("Practitioner/"))
    }));
    assert!(
        appointment["comment"]
            .as_str()
            .unwrap()
            .contains("+966500000001")
    );
    assert_eq!(
        hospital.get(&format!("Slot/{}", created[0])).await["status"],
        "busy"
    );

    let after = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    assert_eq!(slot_refs(&after), [&created[1]]);

    // A retry of the same booking is the same booking.
    let again = adapter
        .book(&booking(&reference, &offers[0]))
        .await
        .expect("book again");
    assert_eq!(again, booked);
    assert_eq!(hospital.bookings(&reference).await.len(), 1);

    // Someone else cannot have it.
    let other = adapter.book(&booking(&self::reference(), &offers[0])).await;
    assert!(matches!(other, Err(AdapterError::SoldOut)), "{other:?}");
}

/// #15, point 5: the patient is found or made by identifier and birth date, so two bookings
/// of one person share one Patient, and a number typed with another birth date never lands
/// on that person's record.
#[tokio::test]
async fn fhir_one_patient_is_one_record_at_the_hospital() {
    let hospital = Hospital::new();
    let day = future_day(38);
    let (schedule, _) = hospital
        .cardiology(&[local(day, 9, 0), local(day, 9, 30), local(day, 10, 0)])
        .await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    let id_number = saudi_id(2, &reference());
    let mut resident = fatima(&id_number);
    resident.id_type = IdType::Iqama;
    let mut booked = Vec::new();
    for (offer, birth_date) in offers
        .iter()
        .zip([(1990, 5, 17), (1990, 5, 17), (1991, 1, 1)])
    {
        let mut request = booking(&reference(), offer);
        let mut patient = resident.clone();
        patient.birth_date =
            NaiveDate::from_ymd_opt(birth_date.0, birth_date.1, birth_date.2).unwrap();
        request.patient = Some(patient);
        adapter.book(&request).await.expect("book");
        let appointment = hospital.bookings(&request.reference).await.remove(0);
        booked.push(patient_of(&hospital, &appointment).await);
    }
    assert_eq!(booked[0]["id"], booked[1]["id"]);
    assert_ne!(booked[0]["id"], booked[2]["id"]);
    for patient in &booked {
        assert_eq!(
            patient["identifier"][0]["system"],
            "http://nphies.sa/identifier/iqama"
        );
        assert_eq!(patient["identifier"][0]["type"]["coding"][0]["code"], "PRC");
        assert_eq!(patient["identifier"][0]["value"], id_number.as_str());
    }
    assert_eq!(booked[2]["birthDate"], "1991-01-01");
    let records = hospital
        .search(&format!(
            "Patient?identifier=http://nphies.sa/identifier/iqama%7C{id_number}"
        ))
        .await;
    assert_eq!(records.len(), 2);
}

/// A hospital that already holds two records of one person (same identifier and birth
/// date) answers the conditional create 412: the booking goes on one of them, no third.
#[tokio::test]
async fn fhir_a_patient_the_hospital_holds_twice_is_booked_on_one_record() {
    let hospital = Hospital::new();
    let day = future_day(39);
    let (schedule, _) = hospital.cardiology(&[local(day, 11, 0)]).await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    let id_number = saudi_id(1, &reference());
    let record = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://nphies.sa/identifier/nationalid", "value": id_number}],
        "name": [{"text": "Fatima Al-Harbi"}],
        "birthDate": "1990-05-17",
    });
    let existing = [
        hospital.create(record.clone()).await,
        hospital.create(record).await,
    ];
    let mut request = booking(&reference(), &offers[0]);
    request.patient = Some(fatima(&id_number));
    adapter.book(&request).await.expect("book");
    let appointment = hospital.bookings(&request.reference).await.remove(0);
    let patient = patient_of(&hospital, &appointment).await;
    assert!(
        existing.iter().any(|id| patient["id"] == id.as_str()),
        "{patient}"
    );
    let records = hospital
        .search(&format!(
            "Patient?identifier=http://nphies.sa/identifier/nationalid%7C{id_number}"
        ))
        .await;
    assert_eq!(records.len(), 2);
}

#[tokio::test]
async fn fhir_book_finishes_its_own_earlier_hold() {
    let hospital = Hospital::new();
    let day = future_day(36);
    let (schedule, created) = hospital.cardiology(&[local(day, 9, 0)]).await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    let reference = reference();

    // As if an earlier attempt died after taking the slot, before creating the Appointment.
    let path = format!("Slot/{}", created[0]);
    let mut slot = hospital.get(&path).await;
    slot["status"] = json!("busy");
    slot["identifier"] = json!([{"system": BOOKING_SYSTEM, "value": reference}]);
    let response = hospital
        .http
        .put(format!("{}/{path}", hospital.base))
        .header("content-type", "application/fhir+json")
        .body(slot.to_string())
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::OK);

    let other = adapter.book(&booking(&self::reference(), &offers[0])).await;
    assert!(matches!(other, Err(AdapterError::SoldOut)), "{other:?}");
    let booked = adapter
        .book(&booking(&reference, &offers[0]))
        .await
        .expect("finish the booking");
    let appointments = hospital.bookings(&reference).await;
    assert_eq!(appointments.len(), 1);
    assert_eq!(
        format!("Appointment/{}", appointments[0]["id"].as_str().unwrap()),
        booked.0
    );
}

#[tokio::test]
async fn fhir_two_bookers_racing_for_one_slot_one_wins() {
    let hospital = Hospital::new();
    let day = future_day(34);
    let starts: Vec<_> = (0..4).map(|i| local(day, 9 + i, 0)).collect();
    let (schedule, created) = hospital.cardiology(&starts).await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    assert_eq!(offers.len(), created.len());

    for offer in &offers {
        let (a, b) = (booking(&reference(), offer), booking(&reference(), offer));
        let (first, second) = tokio::join!(adapter.book(&a), adapter.book(&b));
        let results = [first, second];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let sold_out = results
            .iter()
            .filter(|r| matches!(r, Err(AdapterError::SoldOut)))
            .count();
        assert_eq!((won, sold_out), (1, 1), "{results:?}");

        let slot = offer.slot_ref.as_deref().unwrap();
        let booked = hospital
            .search(&format!("Appointment?slot=Slot/{slot}&status=booked"))
            .await;
        assert_eq!(booked.len(), 1, "{booked:?}");
        let winner = if results[0].is_ok() { &a } else { &b };
        assert_eq!(booked[0]["identifier"][0]["value"], winner.reference);
    }
}

#[tokio::test]
async fn fhir_cancel_frees_the_slot_and_is_idempotent() {
    let hospital = Hospital::new();
    let day = future_day(35);
    let (schedule, created) = hospital.cardiology(&[local(day, 9, 0)]).await;
    let adapter = adapter(&fhir_url(), &[(&schedule, "250")]);
    let offers = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    let booked = adapter
        .book(&booking(&reference(), &offers[0]))
        .await
        .expect("book");
    assert_eq!(
        adapter
            .search(&slots(None, day, day))
            .await
            .expect("search"),
        []
    );

    adapter.cancel(&booked).await.expect("cancel");
    assert_eq!(hospital.get(&booked.0).await["status"], "cancelled");
    let slot = hospital.get(&format!("Slot/{}", created[0])).await;
    assert_eq!(slot["status"], "free");
    assert!(slot.get("identifier").is_none(), "our hold is gone: {slot}");
    let again = adapter
        .search(&slots(None, day, day))
        .await
        .expect("search");
    assert_eq!(slot_refs(&again), [&created[0]]);

    adapter.cancel(&booked).await.expect("cancel twice");

    // And the slot can be booked again.
    adapter
        .book(&booking(&reference(), &again[0]))
        .await
        .expect("book again");
    let missing = adapter
        .cancel(&ProviderRef("Appointment/does-not-exist".into()))
        .await;
    assert!(
        matches!(missing, Err(AdapterError::Rejected(_))),
        "{missing:?}"
    );
}

// ---- Servers that misbehave ---------------------------------------------------------------

type Route = dyn Fn(&str) -> (u16, String) + Send + Sync;

/// A fake FHIR server at `http://127.0.0.1:PORT/fhir`: `route` maps a request path (with
/// query) to a status and body. Returns the base URL and the request heads it saw.
async fn fake_fhir(route: Arc<Route>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let route = Arc::clone(&route);
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let head = read_head(&mut socket).await;
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                seen.lock().unwrap().push(head);
                let (status, body) = route(&path);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/fhir+json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{address}/fhir"), heads)
}

async fn read_head(socket: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

const SCHEDULE: &str =
    r#"{"resourceType":"Schedule","id":"s1","specialty":[{"text":"Cardiology"}]}"#;

/// A server with a good Schedule `s1` whose Slot search answers `slots`.
fn slot_search_answers(status: u16, slots: impl Into<String>) -> Arc<Route> {
    let slots = slots.into();
    Arc::new(move |path: &str| {
        if path.starts_with("/fhir/Schedule/s1") {
            (200, SCHEDULE.to_owned())
        } else if path.starts_with("/fhir/Slot?") {
            (status, slots.clone())
        } else {
            (404, r#"{"resourceType":"OperationOutcome"}"#.to_owned())
        }
    })
}

async fn search_fake(route: Arc<Route>) -> Result<Vec<ProviderOffer>, AdapterError> {
    let (base, _) = fake_fhir(route).await;
    let day = future_day(30);
    adapter(&base, &[("s1", "100")])
        .search(&slots(None, day, day))
        .await
}

#[tokio::test]
async fn fhir_garbage_answers_are_invalid_responses() {
    let day = future_day(30);
    let slot = |start: &str| {
        format!(
            r#"{{"resourceType":"Bundle","type":"searchset","entry":[{{"resource":
            {{"resourceType":"Slot","id":"x","schedule":{{"reference":"Schedule/s1"}},
            "status":"free"{start}}}}}]}}"#
        )
    };
    let good_start = format!(
        r#","start":"{}","end":"{}""#,
        local(day, 9, 0).to_rfc3339(),
        local(day, 9, 30).to_rfc3339()
    );
    let no_end = format!(r#","start":"{}""#, local(day, 9, 0).to_rfc3339());
    let cases: Vec<(&str, String)> = vec![
        ("not JSON", "{\"resourceType\": \"Bundle\", ".into()),
        (
            "an OperationOutcome for a Bundle",
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}"#
                .into(),
        ),
        (
            "a Bundle of Patients",
            r#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}"#
                .into(),
        ),
        ("a JSON array", "[1,2,3]".into()),
        ("a Slot without start or end", slot("")),
        ("a Slot without end", slot(&no_end)),
        ("a Slot with a bad start", slot(r#","start":"tomorrow","end":"later""#)),
        (
            "a next link to another server",
            r#"{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"http://evil.example/Slot"}],"entry":[]}"#
                .into(),
        ),
    ];
    for (what, body) in cases {
        let result = search_fake(slot_search_answers(200, body)).await;
        assert!(
            matches!(result, Err(AdapterError::InvalidResponse(_))),
            "{what}: {result:?}"
        );
    }

    // The good Slot of the same shape is fine, so the cases above failed for their reason.
    let offers = search_fake(slot_search_answers(200, slot(&good_start)))
        .await
        .expect("good");
    assert_eq!(slot_refs(&offers), ["x"]);

    // A Patient where the Schedule should be.
    let result = search_fake(Arc::new(|_: &str| {
        (200, r#"{"resourceType":"Patient","id":"s1"}"#.to_owned())
    }))
    .await;
    assert!(
        matches!(result, Err(AdapterError::InvalidResponse(_))),
        "{result:?}"
    );

    // Booking a "Slot" that is a Bundle (every answer is an empty Bundle).
    let (base, _) = fake_fhir(Arc::new(|_: &str| {
        (
            200,
            r#"{"resourceType":"Bundle","type":"searchset"}"#.to_owned(),
        )
    }))
    .await;
    let offer = &offers[0];
    let result = adapter(&base, &[("s1", "100")])
        .book(&booking(&reference(), offer))
        .await;
    assert!(
        matches!(result, Err(AdapterError::InvalidResponse(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn fhir_error_statuses_are_rejected_or_unavailable() {
    let missing = search_fake(Arc::new(|_: &str| {
        (
            404,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}"#
                .to_owned(),
        )
    }))
    .await;
    assert!(
        matches!(missing, Err(AdapterError::Rejected(_))),
        "{missing:?}"
    );

    let forbidden = search_fake(slot_search_answers(403, "{}")).await;
    assert!(
        matches!(forbidden, Err(AdapterError::Rejected(_))),
        "{forbidden:?}"
    );

    let down = search_fake(slot_search_answers(503, "<html>busy</html>")).await;
    assert!(
        matches!(down, Err(AdapterError::Unavailable(_))),
        "{down:?}"
    );
}

#[tokio::test]
async fn fhir_requests_carry_accept_and_bearer_token() {
    let (base, heads) = fake_fhir(slot_search_answers(
        200,
        r#"{"resourceType":"Bundle","type":"searchset"}"#,
    ))
    .await;
    let mut adapter = adapter(&base, &[("s1", "100")]);
    adapter.settings.bearer_token = Some("s3cret-token".to_owned().into());
    let day = future_day(30);
    assert_eq!(
        adapter
            .search(&slots(None, day, day))
            .await
            .expect("search"),
        []
    );

    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for head in &heads {
        let head = head.to_ascii_lowercase();
        assert!(head.contains("accept: application/fhir+json"), "{head}");
        assert!(
            head.contains("authorization: bearer s3cret-token"),
            "{head}"
        );
    }
    let search = &heads[1];
    assert!(search.contains("schedule=Schedule%2Fs1"), "{search}");
    assert!(search.contains("status=free"), "{search}");
    assert!(search.contains("_sort=start"), "{search}");
    // Local midnights in Riyadh, with their offset.
    let from = format!("start=ge{day}T00%3A00%3A00%2B03%3A00");
    assert!(search.contains(&from), "{search}");
}

#[tokio::test]
async fn fhir_silent_server_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("address"));
    // Accept and hold every connection without a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = FhirSettings {
        base_url: base,
        bearer_token: None,
        schedules: vec![FhirSchedule {
            schedule_id: "s1".into(),
            code: None,
            price: price("100"),
        }],
    };
    let adapter = FhirAdapter::new(settings, TZ, outbound(Duration::from_millis(300)));
    let day = future_day(30);
    let started = std::time::Instant::now();
    let result = adapter.search(&slots(None, day, day)).await;
    assert!(
        matches!(result, Err(AdapterError::Timeout(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn fhir_closed_port_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("address"));
    drop(listener);
    let day = future_day(30);
    let result = adapter(&base, &[("s1", "100")])
        .search(&slots(None, day, day))
        .await;
    assert!(
        matches!(result, Err(AdapterError::Unavailable(_))),
        "{result:?}"
    );
}

/// A hospital's Schedules are asked about side by side, never more than the cap at once: a
/// fake server holds each Slot search until `CAP` are in flight (or a second passes) and
/// counts the most it ever saw at once. One after another it would see 1; without the cap, 5.
#[tokio::test]
async fn fhir_search_asks_a_hospitals_schedules_side_by_side_up_to_the_cap() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CAP: usize = 3;
    const SCHEDULES: usize = 5;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let day = future_day(30);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/fhir", listener.local_addr().expect("address"));
    let (counting, highest, arrivals) = (in_flight.clone(), most.clone(), arrived.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (in_flight, most, arrived) = (counting.clone(), highest.clone(), arrivals.clone());
            tokio::spawn(async move {
                let head = read_head(&mut socket).await;
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let body = if let Some(id) = path.strip_prefix("/fhir/Schedule/") {
                    format!(
                        r#"{{"resourceType":"Schedule","id":"{id}","specialty":[{{"text":"Cardiology"}}]}}"#
                    )
                } else {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    arrived.notify_waiters();
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
                    loop {
                        let more = arrived.notified();
                        tokio::pin!(more);
                        more.as_mut().enable();
                        if in_flight.load(Ordering::SeqCst) >= CAP
                            || tokio::time::Instant::now() >= deadline
                        {
                            break;
                        }
                        let _ = tokio::time::timeout_at(deadline, more).await;
                    }
                    let schedule = path
                        .split("Schedule%2F")
                        .nth(1)
                        .and_then(|rest| rest.split('&').next())
                        .unwrap_or("unknown")
                        .to_owned();
                    let hour = 8 + schedule.trim_start_matches('s').parse::<u32>().unwrap_or(0);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    format!(
                        r#"{{"resourceType":"Bundle","type":"searchset","entry":[{{"resource":{{"resourceType":"Slot","id":"slot-{schedule}","schedule":{{"reference":"Schedule/{schedule}"}},"status":"free","start":"{}","end":"{}"}}}}]}}"#,
                        local(day, hour, 0).to_rfc3339(),
                        local(day, hour, 30).to_rfc3339()
                    )
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    let names: Vec<String> = (1..=SCHEDULES).map(|n| format!("s{n}")).collect();
    let schedules: Vec<(&str, &str)> = names.iter().map(|id| (id.as_str(), "100")).collect();

    let offers = adapter(&base, &schedules)
        .with_concurrency(CAP)
        .search(&slots(None, day, day))
        .await
        .expect("search");

    assert_eq!(
        slot_refs(&offers),
        ["slot-s1", "slot-s2", "slot-s3", "slot-s4", "slot-s5"],
        "every schedule's slot, in order of start"
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        CAP,
        "Slot searches in flight at once"
    );
}

/// Through the API, end to end: a hospital on the real FHIR server is searched, booked
/// (the Appointment appears there and the Slot turns busy) and cancelled (both undone).
#[tokio::test]
async fn fhir_an_api_booking_lands_on_the_hospitals_server_and_a_cancel_undoes_it() {
    let hospital = Hospital::new();
    let day = future_day(3);
    let (schedule, slots) = hospital.cardiology(&[local(day, 10, 0)]).await;
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    let city = format!(
        "fhir-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].replace(char::is_numeric, "x")
    );
    let provider = json!({ "kind": "hospital", "name_ar": "مستشفى الشفاء", "name_en": "Shifa Hospital", "city": city, "adapter": "fhir",
        "adapter_settings": { "base_url": hospital.base, "schedules": [{ "schedule_id": schedule, "code": "cardiology-ali", "price": "350.00" }] } });
    app.post_ok("/v1/providers", &admin, &provider, 201).await;
    let customer = app.register("patient@example.com").await;
    let token = customer["access_token"].as_str().unwrap();
    // A passport of this test's own (typed in lower case: it is upper-cased).
    let passport = format!(
        "P{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase()
    );

    let results: Value = app
        .search(&format!(
            "kind=hospital&city={city}&specialty=cardiology&from={day}&to={day}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results["providers"][0]["status"], "ok", "{results}");
    let offer = &results["offers"][0];
    assert_eq!(offer["price"]["total"], "378.75");
    // Shown by the code the office gave the Schedule, not the server's id for it.
    assert_eq!(offer["unit"]["code"], "cardiology-ali");
    let response = app
        .client
        .post(app.url("/v1/bookings"))
        .bearer_auth(token)
        .header("idempotency-key", "fhir-1")
        .json(&json!({ "offer_id": offer["offer_id"], "patient": {
            "full_name": "Omar Khan", "birth_date": "1979-11-02", "id_type": "passport",
            "id_number": format!("p{}", &passport[1..]), "passport_country": "pak" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["unit"]["code"], "cardiology-ali");
    let reference = booking["reference"].as_str().unwrap();
    let appointments = hospital.bookings(reference).await;
    assert_eq!(appointments.len(), 1);
    assert_eq!(appointments[0]["status"], "booked");
    // The Appointment names the patient, who is on the hospital's server as sent.
    let patient = patient_of(&hospital, &appointments[0]).await;
    assert_eq!(
        patient["identifier"][0]["system"],
        "http://hl7.org/fhir/sid/passport-PAK"
    );
    assert_eq!(patient["identifier"][0]["value"], passport.as_str());
    assert_eq!(patient["identifier"][0]["type"]["coding"][0]["code"], "PPN");
    assert_eq!(patient["name"][0]["text"], "Omar Khan");
    assert_eq!(patient["name"][0]["given"], json!(["Omar"]));
    assert_eq!(patient["birthDate"], "1979-11-02");
    assert!(
        appointments[0]["participant"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["actor"]["display"] == "Omar Khan")
    );
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[0])).await["status"],
        "busy"
    );

    let cancelled: Value = app
        .post_json_authed(
            &format!("/v1/bookings/{reference}/cancel"),
            token,
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    // The hospital's appointment is cancelled by a job once ours is committed.
    app.run_pending_jobs().await;
    assert_eq!(hospital.bookings(reference).await[0]["status"], "cancelled");
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[0])).await["status"],
        "free"
    );
}

/// A change at a hospital: the new Slot is taken first, then the same Appointment moves onto
/// it, and the old Slot is freed; a change to a taken Slot answers 409 and leaves all as it was.
#[tokio::test]
async fn fhir_a_change_reschedules_the_appointment_onto_the_new_slot() {
    let hospital = Hospital::new();
    let day = future_day(4);
    let (schedule, slots) = hospital
        .cardiology(&[local(day, 9, 0), local(day, 11, 0), local(day, 13, 0)])
        .await;
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin_token().await;
    let city = format!(
        "fhirc-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8].replace(char::is_numeric, "x")
    );
    let provider = json!({ "kind": "hospital", "name_ar": "مستشفى الشفاء", "name_en": "Shifa Hospital", "city": city, "adapter": "fhir",
        "adapter_settings": { "base_url": hospital.base, "schedules": [{ "schedule_id": schedule, "price": "350.00" }] } });
    app.post_ok("/v1/providers", &admin, &provider, 201).await;
    let customer = app.register("reschedule@example.com").await;
    let token = customer["access_token"].as_str().unwrap();
    let offers: Value = app
        .search(&format!("kind=hospital&city={city}&from={day}&to={day}"))
        .await
        .json()
        .await
        .unwrap();
    // The offers in time order, one per free slot: 09:00, 11:00, 13:00.
    let offer_at = |slot: &str| {
        let index = slots.iter().position(|s| s == slot).unwrap();
        offers["offers"][index].clone()
    };
    let post = |path: String, key: &'static str, body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let response = post(
        "/v1/bookings".into(),
        "fhir-change-hold",
        json!({ "offer_id": offer_at(&slots[0])["offer_id"], "patient": {
            "full_name": "Fatima Al-Harbi", "birth_date": "1990-05-17", "id_type": "national_id",
            "id_number": saudi_id(1, "fhir-change-hold") } }),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap().to_owned();
    let appointment_id = hospital.bookings(&reference).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else takes the 13:00 slot at the hospital: a change to it is refused.
    let mut taken = hospital.get(&format!("Slot/{}", slots[2])).await;
    taken["status"] = json!("busy");
    hospital
        .http
        .put(format!("{}/Slot/{}", hospital.base, slots[2]))
        .header("content-type", "application/fhir+json")
        .body(taken.to_string())
        .send()
        .await
        .unwrap();
    let refused = post(
        format!("/v1/bookings/{reference}/change"),
        "fhir-change-taken",
        json!({ "offer_id": offer_at(&slots[2])["offer_id"] }),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 409);
    app.run_pending_jobs().await;
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[0])).await["status"],
        "busy",
        "the booking keeps its slot"
    );

    let response = post(
        format!("/v1/bookings/{reference}/change"),
        "fhir-change-ok",
        json!({ "offer_id": offer_at(&slots[1])["offer_id"] }),
    )
    .await
    .unwrap();
    let status = response.status();
    let changed: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{changed}");
    // Before the job: the new Slot is ours, the old one still too (nothing given up first).
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[1])).await["status"],
        "busy"
    );
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[0])).await["status"],
        "busy"
    );
    app.run_pending_jobs().await;
    let appointments = hospital.bookings(&reference).await;
    assert_eq!(appointments.len(), 1, "rescheduled, not rebooked");
    let appointment = &appointments[0];
    assert_eq!(appointment["id"], appointment_id.as_str());
    assert_eq!(appointment["status"], "booked");
    // The patient goes with the appointment.
    assert_eq!(
        patient_of(&hospital, appointment).await["identifier"][0]["value"],
        saudi_id(1, "fhir-change-hold")
    );
    assert_eq!(
        changed["booking"]["patient"]["full_name"],
        "Fatima Al-Harbi"
    );
    assert_eq!(
        appointment["slot"][0]["reference"],
        format!("Slot/{}", slots[1])
    );
    let start: DateTime<Utc> = appointment["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(start, local(day, 11, 0));
    assert_eq!(
        hospital.get(&format!("Slot/{}", slots[0])).await["status"],
        "free",
        "the old slot is given back"
    );
    assert_eq!(changed["booking"]["start"], offer_at(&slots[1])["start"]);
}
