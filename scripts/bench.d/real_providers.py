"""Loads real provider servers for the federated search benchmark (#20 point 4), DAYS days
ahead from today (the demo office's calendar, Riyadh): on each FHIR R4 server (Medplum's
router, tests/peers/fhir) a Practitioner, SCHEDULES Schedules and a free 30-minute Slot
every half hour from 09:00 to 13:00 local on every day; on each CalDAV server (Radicale) a
hotel's two calendars (std, 5 rooms; suite, 3 rooms) with one room of each taken on every
night. Prints one JSON line per provider: its kind, base URL and `adapter_settings`.

usage: real_providers.py DAYS FHIR_BASE_URL... -- CALDAV_BASE_URL...
"""
import concurrent.futures
import datetime
import json
import sys
import urllib.request
import uuid

SCHEDULES = 3
SLOTS_PER_DAY = 8
RIYADH = datetime.timezone(datetime.timedelta(hours=3))
ROOM_TYPES = [("std", 5, "300.00"), ("suite", 3, "650.00")]


def send(method, url, body=None, content_type="application/fhir+json", headers=None):
    request = urllib.request.Request(url, method=method, data=body.encode() if body is not None else None)
    if body is not None:
        request.add_header("content-type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def create(base, resource):
    _, body = send("POST", f"{base}/{resource['resourceType']}", json.dumps(resource))
    return json.loads(body)["id"]


def load_fhir(base, days, pool):
    practitioner = create(base, {"resourceType": "Practitioner",
                                 "name": [{"prefix": ["Dr."], "given": ["Bench"], "family": base[-7:]}]})
    schedules = [create(base, {
        "resourceType": "Schedule", "active": True,
        "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394579002", "display": "Cardiology"}]}],
        "actor": [{"reference": f"Practitioner/{practitioner}"}]}) for _ in range(SCHEDULES)]
    today = datetime.datetime.now(RIYADH).date()
    slots = []
    for schedule in schedules:
        for d in range(1, days + 1):
            day = today + datetime.timedelta(days=d)
            for n in range(SLOTS_PER_DAY):
                start = datetime.datetime.combine(day, datetime.time(9), RIYADH) + datetime.timedelta(minutes=30 * n)
                slots.append({"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule}"},
                              "status": "free", "start": start.isoformat(),
                              "end": (start + datetime.timedelta(minutes=30)).isoformat()})
    list(pool.map(lambda slot: create(base, slot), slots))
    return {"kind": "hospital", "base_url": base,
            "adapter_settings": {"base_url": base,
                                 "schedules": [{"schedule_id": s, "price": "350.00"} for s in schedules]}}


def event(uid, night):
    following = night + datetime.timedelta(days=1)
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//wasit//bench//EN", "BEGIN:VEVENT", f"UID:{uid}",
        "DTSTAMP:20260101T000000Z", f"DTSTART;VALUE=DATE:{night:%Y%m%d}", f"DTEND;VALUE=DATE:{following:%Y%m%d}",
        "SUMMARY:Taken", "END:VEVENT", "END:VCALENDAR", ""])


def load_caldav(base, days, pool):
    root = f"/{uuid.uuid4().hex}"
    send("MKCOL", f"{base}{root}/")
    today = datetime.datetime.now(RIYADH).date()
    puts = []
    room_types = []
    for code, rooms, price in ROOM_TYPES:
        path = f"{root}/{code}/"
        send("MKCALENDAR", f"{base}{path}")
        room_types.append({"code": code, "calendar_path": path, "name_ar": code, "name_en": code.title(),
                           "rooms": rooms, "max_guests": 2, "nightly_price": price})
        for d in range(1, days + 1):
            uid = uuid.uuid4().hex
            puts.append((f"{base}{path}{uid}.ics", event(uid, today + datetime.timedelta(days=d))))
    list(pool.map(lambda put: send("PUT", put[0], put[1], "text/calendar; charset=utf-8",
                                   {"if-none-match": "*"}), puts))
    return {"kind": "hotel", "base_url": base, "adapter_settings": {"base_url": base, "room_types": room_types}}


def main():
    days = int(sys.argv[1])
    rest = sys.argv[2:]
    split = rest.index("--")
    loads = [(load_fhir, base) for base in rest[:split]] + [(load_caldav, base) for base in rest[split + 1:]]

    def load(job):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return job[0](job[1], days, pool)

    # Every server at once, each with its own 8 writers.
    with concurrent.futures.ThreadPoolExecutor(len(loads)) as servers:
        for provider in servers.map(load, loads):
            print(json.dumps(provider))


if __name__ == "__main__":
    main()
