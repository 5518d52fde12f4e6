//! The CalDAV adapter against a real Radicale (tests/peers/caldav/start.sh), plus tiny fake
//! servers for the answers Radicale never gives. Tests share one server: each works under its
//! own `/<uuid>/` collection.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, Component, DatePerhapsTime};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::outbound;
use wasit::providers::adapter::AdapterError;
use wasit::providers::caldav::CaldavAdapter;
use wasit::providers::model::{
    AvailabilityQuery, BookingRequest, CaldavRoomType, CaldavSettings, ProviderOffer, ProviderRef,
    SlotQuery, StayQuery,
};

const TZ: Tz = chrono_tz::Asia::Riyadh;

fn caldav_url() -> String {
    std::env::var("WASIT_TEST_CALDAV_URL").unwrap_or_else(|_| {
        panic!(
            "start the CalDAV test server: tests/peers/caldav/start.sh 5232 and export \
             WASIT_TEST_CALDAV_URL=http://127.0.0.1:5232"
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

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    TZ.from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("one midnight")
        .with_timezone(&Utc)
}

fn stay(check_in: NaiveDate, check_out: NaiveDate, guests: u32, rooms: u32) -> AvailabilityQuery {
    AvailabilityQuery::Stay(StayQuery {
        check_in,
        check_out,
        guests,
        rooms,
        occupancy: wasit::domain::occupancy::Occupancy::spread(guests, rooms),
    })
}

fn room_type(code: &str, calendar_path: &str, rooms: u32) -> CaldavRoomType {
    CaldavRoomType {
        code: code.into(),
        calendar_path: calendar_path.into(),
        name_ar: format!("غرفة {code}"),
        name_en: format!("Room {code}"),
        rooms,
        max_guests: 2,
        nightly_price: Decimal::new(45_050, 2),
    }
}

fn adapter(base_url: &str, room_types: Vec<CaldavRoomType>) -> CaldavAdapter {
    CaldavAdapter::new(
        CaldavSettings {
            base_url: base_url.into(),
            username: None,
            password: None,
            room_types,
        },
        TZ,
        outbound(Duration::from_secs(20)),
    )
}

fn booking(
    reference: &str,
    unit_code: &str,
    check_in: NaiveDate,
    check_out: NaiveDate,
    quantity: u32,
) -> BookingRequest {
    BookingRequest {
        reference: reference.into(),
        unit_code: unit_code.into(),
        slot_ref: None,
        start: midnight(check_in),
        end: midnight(check_out),
        quantity,
        guest_name: "Sara Al-Harbi".into(),
        guest_phone: Some("+966500000001".into()),
        guest_email: Some("sara@example.com".into()),
        patient: None,
        rooms: Vec::new(),
    }
}

fn codes(offers: &[ProviderOffer]) -> Vec<&str> {
    offers
        .iter()
        .map(|offer| offer.unit_code.as_str())
        .collect()
}

/// A hotel of our own on the shared Radicale: `/<uuid>/` with one calendar per room type.
struct Hotel {
    base_url: String,
    root: String,
    http: reqwest::Client,
}

impl Hotel {
    async fn new() -> Self {
        let hotel = Self {
            base_url: caldav_url().trim_end_matches('/').to_owned(),
            root: format!("/{}", uuid::Uuid::new_v4().simple()),
            http: client(Duration::from_secs(20)),
        };
        let status = hotel
            .send(
                Method::from_bytes(b"MKCOL").unwrap(),
                &format!("{}/", hotel.root),
            )
            .await
            .0;
        assert_eq!(status, StatusCode::CREATED, "MKCOL {}", hotel.root);
        hotel
    }

    /// A new calendar collection; returns its path, e.g. `/<uuid>/deluxe/`.
    async fn calendar(&self, name: &str) -> String {
        let path = format!("{}/{name}/", self.root);
        let status = self
            .send(Method::from_bytes(b"MKCALENDAR").unwrap(), &path)
            .await
            .0;
        assert_eq!(status, StatusCode::CREATED, "MKCALENDAR {path}");
        path
    }

    async fn send(&self, method: Method, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("CalDAV server answers");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn put_event(&self, calendar: &str, name: &str, vevent: &str) {
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//hotel staff//EN\r\nBEGIN:VEVENT\r\n\
             UID:{name}@hotel\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:blocked\r\n{vevent}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let status = self
            .http
            .put(format!("{}{calendar}{name}.ics", self.base_url))
            .header("content-type", "text/calendar; charset=utf-8")
            .body(ics)
            .send()
            .await
            .expect("PUT")
            .status();
        assert_eq!(status, StatusCode::CREATED, "PUT {calendar}{name}.ics");
    }

    /// The calendar's merged .ics feed (what hotels export), parsed.
    async fn feed(&self, calendar: &str) -> Calendar {
        let (status, body) = self.send(Method::GET, calendar).await;
        assert_eq!(status, StatusCode::OK, "GET {calendar}");
        Calendar::from_str(&body).expect("the feed is iCalendar")
    }

    /// How many events of the feed include the night starting on `night`.
    async fn events_on(&self, calendar: &str, night: NaiveDate) -> usize {
        self.feed(calendar)
            .await
            .events()
            .filter(|event| {
                let (Some(DatePerhapsTime::Date(start)), Some(DatePerhapsTime::Date(end))) =
                    (event.get_start(), event.get_end())
                else {
                    panic!("our events are all-day: {event:?}");
                };
                start <= night && night < end
            })
            .count()
    }
}

#[tokio::test]
async fn caldav_empty_calendar_offers_the_room_type_for_the_whole_stay() {
    let hotel = Hotel::new().await;
    let calendar = hotel.calendar("deluxe").await;
    // Base URL with a trailing slash, calendar path without a leading one: both are joined.
    let adapter = adapter(
        &format!("{}/", hotel.base_url),
        vec![room_type("deluxe", calendar.trim_start_matches('/'), 3)],
    );

    let offers = adapter
        .search(&stay(date(2031, 3, 10), date(2031, 3, 12), 3, 2))
        .await
        .expect("search");

    assert_eq!(offers.len(), 1, "{offers:?}");
    let offer = &offers[0];
    assert_eq!(offer.unit_code, "deluxe");
    assert_eq!(offer.unit_name_en, "Room deluxe");
    assert_eq!(offer.unit_name_ar, "غرفة deluxe");
    assert_eq!(offer.quantity, 2);
    assert_eq!(offer.max_guests, Some(2));
    assert_eq!(offer.slot_ref, None);
    // 450.50 × 2 nights × 2 rooms
    assert_eq!(offer.provider_price, Decimal::new(180_200, 2));
    // Local midnights in Riyadh (UTC+3) as instants.
    assert_eq!(offer.start.to_rfc3339(), "2031-03-09T21:00:00+00:00");
    assert_eq!(offer.end.to_rfc3339(), "2031-03-11T21:00:00+00:00");

    let slots = AvailabilityQuery::Slots(SlotQuery {
        specialty: None,
        from: date(2031, 3, 10),
        to: date(2031, 3, 12),
    });
    assert!(adapter.search(&slots).await.expect("slots").is_empty());
}

#[tokio::test]
async fn caldav_full_night_hides_the_room_type_only_for_stays_including_it() {
    let hotel = Hotel::new().await;
    let twin = hotel.calendar("twin").await;
    let suite = hotel.calendar("suite").await;
    // Two rooms; the night of 2031-04-11 is taken twice: an all-day block and a timed event
    // (15:00 to 23:30 on the 11th, Riyadh). A timed event covers every night it overlaps, so
    // one ending at 11:00 on the 12th would take the night of the 12th as well.
    hotel
        .put_event(
            &twin,
            "maintenance",
            "DTSTART;VALUE=DATE:20310411\r\nDTEND;VALUE=DATE:20310412\r\n",
        )
        .await;
    hotel
        .put_event(&twin, "walk-in", "DTSTART;TZID=Asia/Riyadh:20310411T150000\r\nDTEND;TZID=Asia/Riyadh:20310411T233000\r\n")
        .await;
    // A UTC event ending at 00:00 on the 11th in Riyadh: one of two rooms on the 10th only.
    hotel
        .put_event(
            &twin,
            "early",
            "DTSTART:20310410T100000Z\r\nDTEND:20310410T210000Z\r\n",
        )
        .await;
    let adapter = adapter(
        &hotel.base_url,
        vec![room_type("twin", &twin, 2), room_type("suite", &suite, 1)],
    );

    let including = adapter
        .search(&stay(date(2031, 4, 10), date(2031, 4, 13), 2, 1))
        .await
        .expect("search");
    assert_eq!(codes(&including), ["suite"]);

    let before = adapter
        .search(&stay(date(2031, 4, 9), date(2031, 4, 11), 2, 1))
        .await
        .expect("search");
    assert_eq!(codes(&before), ["twin", "suite"]);
    let after = adapter
        .search(&stay(date(2031, 4, 12), date(2031, 4, 14), 2, 1))
        .await
        .expect("search");
    assert_eq!(codes(&after), ["twin", "suite"]);

    // Two rooms of the twin type sleep four; five guests fit nowhere, and the suite has one room.
    let two_rooms = adapter
        .search(&stay(date(2031, 4, 12), date(2031, 4, 14), 4, 2))
        .await
        .expect("search");
    assert_eq!(codes(&two_rooms), ["twin"]);
    let crowd = adapter
        .search(&stay(date(2031, 4, 12), date(2031, 4, 14), 5, 2))
        .await
        .expect("search");
    assert!(crowd.is_empty(), "{crowd:?}");
    let three_guests_one_room = adapter
        .search(&stay(date(2031, 4, 12), date(2031, 4, 14), 3, 1))
        .await
        .expect("search");
    assert!(
        three_guests_one_room.is_empty(),
        "{three_guests_one_room:?}"
    );
}

#[tokio::test]
async fn caldav_book_writes_all_day_events_and_a_retry_adds_nothing() {
    let hotel = Hotel::new().await;
    let family = hotel.calendar("family").await;
    let adapter = adapter(&hotel.base_url, vec![room_type("family", &family, 3)]);
    let (check_in, check_out) = (date(2031, 5, 1), date(2031, 5, 3));
    let request = booking("WS-BOOK01", "family", check_in, check_out, 2);

    let provider_ref = adapter.book(&request).await.expect("book");

    let paths: Vec<&str> = provider_ref.0.split(' ').collect();
    assert_eq!(
        paths,
        [
            format!("{family}WS-BOOK01-0.ics"),
            format!("{family}WS-BOOK01-1.ics")
        ]
    );
    for (i, path) in paths.iter().enumerate() {
        let (status, body) = hotel.send(Method::GET, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        let calendar = Calendar::from_str(&body).expect("iCalendar");
        let event = calendar.events().next().expect("an event");
        assert_eq!(
            event.get_uid(),
            Some(format!("WS-BOOK01-{i}@wasit").as_str())
        );
        assert_eq!(event.get_start(), Some(DatePerhapsTime::Date(check_in)));
        assert_eq!(event.get_end(), Some(DatePerhapsTime::Date(check_out)));
        assert!(
            event
                .get_summary()
                .is_some_and(|s| s.contains("Sara Al-Harbi") && s.contains("WS-BOOK01")),
            "{body}"
        );
        assert!(body.contains("STATUS:CONFIRMED"), "{body}");
        assert!(
            body.contains("+966500000001") && body.contains("sara@example.com"),
            "{body}"
        );
    }
    assert_eq!(hotel.events_on(&family, check_in).await, 2);

    // One room of three is left.
    let two = adapter
        .search(&stay(check_in, check_out, 2, 2))
        .await
        .expect("search");
    assert!(two.is_empty(), "{two:?}");
    let one = adapter
        .search(&stay(check_in, check_out, 2, 1))
        .await
        .expect("search");
    assert_eq!(codes(&one), ["family"]);

    // The same reference again (a retry after a lost answer): same events, same handle.
    let again = adapter.book(&request).await.expect("retry");
    assert_eq!(again, provider_ref);
    assert_eq!(hotel.feed(&family).await.events().count(), 2);

    // Two more rooms do not fit; the refusal leaves nothing behind.
    let greedy = adapter
        .book(&booking("WS-BOOK02", "family", check_in, check_out, 2))
        .await;
    assert!(matches!(greedy, Err(AdapterError::SoldOut)), "{greedy:?}");
    assert_eq!(hotel.feed(&family).await.events().count(), 2);

    let unknown = adapter
        .book(&booking("WS-BOOK03", "penthouse", check_in, check_out, 1))
        .await;
    assert!(
        matches!(unknown, Err(AdapterError::Rejected(_))),
        "{unknown:?}"
    );
}

/// Issue #14, point 9: the iCalendar writer escapes a line feed but not a bare CR, so a
/// guest name holding one (stored before names refused it) went out as a content line that
/// ends early. Radicale reads the CR into the value and kept the event whole, but the desk saw
/// a summary of several lines spelling out the guest's own properties and event; a parser
/// taking CR as a line break would have stored them. Now the name is one line.
/// (`event::tests::a_bare_cr_in_a_guest_name_writes_no_line_of_its_own` checks what we write.)
#[tokio::test]
async fn caldav_a_bare_cr_in_a_guest_name_adds_no_property_and_no_event() {
    let hotel = Hotel::new().await;
    let suite = hotel.calendar("suite").await;
    let adapter = adapter(&hotel.base_url, vec![room_type("suite", &suite, 3)]);
    let (check_in, check_out) = (date(2031, 10, 1), date(2031, 10, 3));
    let mut request = booking("WS-CRLF01", "suite", check_in, check_out, 1);
    request.guest_name = "Eve\rX-INJECTED:yes\rEND:VEVENT\rBEGIN:VEVENT\rUID:ghost@evil\r\
         DTSTAMP:20310101T000000Z\rDTSTART;VALUE=DATE:20311001\rDTEND;VALUE=DATE:20311003\r\
         SUMMARY:ghost"
        .into();
    request.guest_phone = Some("+966500000001\rX-PHONE:1".into());

    let provider_ref = adapter.book(&request).await.expect("book");

    let (status, body) = hotel.send(Method::GET, &provider_ref.0).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = body.split(['\r', '\n']).collect();
    for injected in ["X-INJECTED", "X-PHONE", "UID:ghost", "SUMMARY:ghost"] {
        assert!(
            !lines.iter().any(|line| line.starts_with(injected)),
            "{injected} became a property: {body:?}"
        );
    }
    let feed = hotel.feed(&suite).await;
    let uids: Vec<_> = feed
        .events()
        .map(|event| event.get_uid().map(str::to_owned))
        .collect();
    assert_eq!(uids, [Some("WS-CRLF01-0@wasit".to_owned())]);
    let event = feed.events().next().expect("our event");
    assert!(
        event
            .get_summary()
            .is_some_and(|s| s.starts_with("Eve X-INJECTED:yes") && !s.contains('\r')),
        "{body:?}"
    );
}

#[tokio::test]
async fn caldav_someone_elses_event_at_our_href_is_sold_out_and_left_alone() {
    let hotel = Hotel::new().await;
    let single = hotel.calendar("single").await;
    // Not our UID (`…@hotel`), at the href our booking WS-TAKEN would use.
    hotel
        .put_event(
            &single,
            "WS-TAKEN-0",
            "DTSTART;VALUE=DATE:20310801\r\nDTEND;VALUE=DATE:20310802\r\n",
        )
        .await;
    let adapter = adapter(&hotel.base_url, vec![room_type("single", &single, 5)]);

    let result = adapter
        .book(&booking(
            "WS-TAKEN",
            "single",
            date(2031, 8, 10),
            date(2031, 8, 11),
            1,
        ))
        .await;

    assert!(matches!(result, Err(AdapterError::SoldOut)), "{result:?}");
    let (status, body) = hotel
        .send(Method::GET, &format!("{single}WS-TAKEN-0.ics"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("UID:WS-TAKEN-0@hotel"), "{body}");
}

async fn race(rooms: u32, racers: usize) {
    let hotel = Hotel::new().await;
    let calendar = hotel.calendar("contested").await;
    let adapter = Arc::new(adapter(
        &hotel.base_url,
        vec![room_type("contested", &calendar, rooms)],
    ));
    let night = date(2031, 6, 15);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..racers {
        let adapter = Arc::clone(&adapter);
        let request = booking(
            &format!("WS-RACE{i:02}"),
            "contested",
            night,
            date(2031, 6, 16),
            1,
        );
        tasks.spawn(async move { adapter.book(&request).await });
    }
    let mut won = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => won += 1,
            Err(AdapterError::SoldOut) => {}
            Err(other) => panic!("a racer failed otherwise: {other:?}"),
        }
    }

    let held = hotel.events_on(&calendar, night).await;
    eprintln!("{won} of {racers} racers booked one of {rooms} rooms");
    // Every room goes to someone (more racers than rooms), and never one more.
    assert_eq!(won, rooms, "{won} bookings for {rooms} rooms");
    assert_eq!(
        held, won as usize,
        "the calendar holds exactly the bookings that succeeded"
    );
    // The survivors' events are all there is: a search agrees.
    let left = adapter
        .search(&stay(night, date(2031, 6, 16), 1, 1))
        .await
        .expect("search");
    assert!(
        left.is_empty(),
        "won {won} of {rooms}, yet offered: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caldav_race_for_the_last_room_never_overbooks() {
    race(1, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caldav_race_for_three_rooms_never_overbooks() {
    race(3, 10).await;
}

#[tokio::test]
async fn caldav_cancel_frees_the_rooms_and_is_idempotent() {
    let hotel = Hotel::new().await;
    let studio = hotel.calendar("studio").await;
    let adapter = adapter(&hotel.base_url, vec![room_type("studio", &studio, 2)]);
    let (check_in, check_out) = (date(2031, 7, 1), date(2031, 7, 4));
    let provider_ref = adapter
        .book(&booking("WS-CANCEL", "studio", check_in, check_out, 2))
        .await
        .expect("book");
    assert!(
        adapter
            .search(&stay(check_in, check_out, 1, 1))
            .await
            .expect("search")
            .is_empty()
    );

    adapter.cancel(&provider_ref).await.expect("cancel");

    assert_eq!(hotel.feed(&studio).await.events().count(), 0);
    let offers = adapter
        .search(&stay(check_in, check_out, 1, 2))
        .await
        .expect("search");
    assert_eq!(codes(&offers), ["studio"]);
    adapter
        .cancel(&provider_ref)
        .await
        .expect("cancelling twice");
    let nothing = ProviderRef(String::new());
    assert!(matches!(
        adapter.cancel(&nothing).await,
        Err(AdapterError::Internal(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Servers that misbehave

/// Answers every request with this status line, content type and body; returns the base URL.
async fn fake_server(status: &str, content_type: &str, body: &str) -> String {
    let answer: Arc<str> = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                read_request(&mut socket).await;
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

/// Reads the head and a Content-Length body, so the client sees its request consumed.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                return;
            }
        }
    }
}

fn garbage_adapter(base_url: &str, timeout: Duration) -> CaldavAdapter {
    CaldavAdapter::new(
        CaldavSettings {
            base_url: base_url.into(),
            username: Some("hotel".into()),
            password: Some("secret".to_owned().into()),
            room_types: vec![room_type("deluxe", "/hotel/deluxe/", 2)],
        },
        TZ,
        outbound(timeout),
    )
}

async fn search_at(base_url: &str, timeout: Duration) -> Result<Vec<ProviderOffer>, AdapterError> {
    garbage_adapter(base_url, timeout)
        .search(&stay(date(2031, 9, 1), date(2031, 9, 2), 1, 1))
        .await
}

#[tokio::test]
async fn caldav_multistatus_without_icalendar_is_invalid() {
    const BODY: &str = "<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><response><href>/hotel/deluxe/a.ics</href><propstat><prop><C:calendar-data>hello, I am not a calendar</C:calendar-data></prop></propstat></response></multistatus>";
    let base_url = fake_server("207 Multi-Status", "text/xml; charset=utf-8", BODY).await;
    let result = search_at(&base_url, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::InvalidResponse(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn caldav_broken_icalendar_in_a_multistatus_is_invalid() {
    const BODY: &str = "<multistatus xmlns=\"DAV:\"><response><propstat><prop><calendar-data xmlns=\"urn:ietf:params:xml:ns:caldav\">BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:yesterday\nEND:VEVENT\nEND:VCALENDAR\n</calendar-data></prop></propstat></response></multistatus>";
    let base_url = fake_server("207 Multi-Status", "text/xml", BODY).await;
    let result = search_at(&base_url, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::InvalidResponse(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn caldav_html_page_with_200_is_invalid() {
    let base_url = fake_server(
        "200 OK",
        "text/html",
        "<html><body>Welcome to nginx!</body></html>",
    )
    .await;
    let result = search_at(&base_url, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::InvalidResponse(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn caldav_server_errors_are_unavailable_and_refusals_rejected() {
    let down = fake_server(
        "503 Service Unavailable",
        "text/plain",
        "down for maintenance",
    )
    .await;
    let result = search_at(&down, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::Unavailable(_))),
        "{result:?}"
    );

    let refused = fake_server("403 Forbidden", "text/plain", "no").await;
    let result = search_at(&refused, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::Rejected(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn caldav_silent_server_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    // Accept and hold every connection without a word.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let result = search_at(&base_url, Duration::from_millis(300)).await;
    assert!(
        matches!(result, Err(AdapterError::Timeout(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn caldav_closed_port_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let result = search_at(&base_url, Duration::from_secs(5)).await;
    assert!(
        matches!(result, Err(AdapterError::Unavailable(_))),
        "{result:?}"
    );
    let cancel = garbage_adapter(&base_url, Duration::from_secs(5))
        .cancel(&ProviderRef("/hotel/deluxe/WS-X-0.ics".into()))
        .await;
    assert!(
        matches!(cancel, Err(AdapterError::Unavailable(_))),
        "{cancel:?}"
    );
}
