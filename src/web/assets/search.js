// Searching hotels or hospital appointments, and booking an offer. Shared by the customer
// site and the agent console (which books for a client, `customerId`).
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce } from './dom.js';
import { t, has, plural, problemText } from './i18n.js';
import { when, priceTable, name, money, isoDay, addDays, clock, cancellationLine } from './format.js';
import { Attempt } from './api.js';
import { parseRooms, occupancyQuery, roomsEditor, roomsErrors, roomText } from './rooms.js';
import { leadDialog, leadFields, patientDialog } from './search-dialogs.js';
import { dateRange } from './search-dates.js';
import { byHotel, hotelCard, hintList, viewControls, viewQuery, defaultView } from './hotel-results.js';
import { packageOffers } from './packages.js';
import { notifyMe } from './waitlist.js';

// The API's paths of a patient's fields, to the dialog's inputs.
const PATIENT_FIELDS = {
  patient: 'full_name',
  'patient.full_name': 'full_name',
  'patient.birth_date': 'birth_date',
  'patient.id_type': 'id_type',
  'patient.id_number': 'id_number',
  'patient.passport_country': 'passport_country',
};

// "2 left" under an offer when this few of its rooms are free.
const FEW_LEFT = 3;

// The cities with a provider, and our clinics' specialties: asked of the API once a page.
let knownOptions = null;

async function searchOptions(api) {
  knownOptions ??= await api.get('/v1/search/options');
  return knownOptions;
}

/** A specialty in the reader's language: ours by name, else as the office typed it. */
function label(kind, value) {
  if (has(`${kind}.${value}`)) return t(`${kind}.${value}`);
  return value.replace(/(^|[\s-])(\p{L})/gu, (_, gap, letter) => gap + letter.toUpperCase());
}

/** A city as the search options name it (never its slug), for either kind. */
function cityOf(slug) {
  return [...(knownOptions?.hotel.cities ?? []), ...(knownOptions?.hospital.cities ?? [])].find((c) => c.slug === slug);
}

function cityLabel(slug) {
  const city = cityOf(slug);
  return city ? name(city) : label('city', slug);
}

const HOTEL_PARAMS = ['kind', 'city', 'check_in', 'check_out', 'occupancy', 'children'];
const HOSPITAL_PARAMS = ['kind', 'city', 'specialty', 'from', 'to'];

function defaults() {
  // Tomorrow in Riyadh: the server refuses dates before its own today.
  const tomorrow = addDays(isoDay(), 1);
  return {
    kind: 'hotel', city: 'riyadh', check_in: tomorrow, check_out: addDays(tomorrow, 2),
    specialty: '', from: tomorrow, to: addDays(tomorrow, 6),
  };
}

/** The query string's search, only the parameters of its kind. */
export function searchQuery(params) {
  const names = params.kind === 'hospital' ? HOSPITAL_PARAMS : HOTEL_PARAMS;
  return Object.fromEntries(names.filter((n) => params[n]).map((n) => [n, params[n]]));
}

function validate(query, rooms) {
  const errors = [];
  const today = isoDay();
  if (query.kind === 'hotel') {
    if (!query.check_in) errors.push(['check_in', t('search.error.date')]);
    else if (query.check_in < today) errors.push(['check_in', t('search.error.past')]);
    if (!query.check_out) errors.push(['check_out', t('search.error.date')]);
    else if (query.check_in && query.check_out <= query.check_in) errors.push(['check_out', t('search.error.check_out')]);
    errors.push(...roomsErrors(rooms));
  } else {
    if (!query.from) errors.push(['from', t('search.error.date')]);
    else if (query.from < today) errors.push(['from', t('search.error.past')]);
    if (!query.to) errors.push(['to', t('search.error.date')]);
    else if (query.from && query.to < query.from) errors.push(['to', t('search.error.to')]);
  }
  return errors;
}

/**
 * Renders the form (filled from `params`) and, when `params.kind` is set, runs the search.
 * `onSearch(query)` replaces running it here (the site puts the query in the address);
 * `onBooked(booking)` follows a successful hold; `beforeBook()` may refuse (not logged in).
 */
export function renderSearch(container, options) {
  const { api, params = {}, onSearch, signal } = options;
  const values = { ...defaults(), ...params };
  // Who stays in each room, edited in place; an older link's guests and rooms become rooms.
  const rooms = parseRooms(params);
  Object.assign(values, occupancyQuery(rooms));
  delete values.guests;
  delete values.rooms;
  const editor = roomsEditor(rooms);
  const results = h('section', { class: 'results', 'aria-labelledby': 'results-title', 'aria-busy': 'false' });
  const fields = h('div', { class: 'search-fields' });
  const submit = h('button', { type: 'submit' }, t('search.submit'));

  const kindChoice = h('fieldset', { class: 'segmented' },
    h('legend', null, t('search.kind')),
    ['hotel', 'hospital'].map((kind) => h('label', null,
      h('input', {
        type: 'radio', name: 'kind', value: kind, checked: values.kind === kind,
        onchange: () => { values.kind = kind; drawFields(); },
      }),
      h('span', null, t(`search.kind.${kind}`)))));

  function drawFields() {
    const known = knownOptions?.[values.kind];
    // Until the list arrives, the city asked for (a shared search link) stands alone.
    const slugs = known ? known.cities.map((c) => c.slug) : [values.city].filter(Boolean);
    if (known && !slugs.includes(values.city)) values.city = slugs[0] ?? '';
    const cities = slugs.map((c) => [c, cityLabel(c)]);
    // A hospital city offers the specialties of its own clinics.
    const common = field({
      name: 'city', label: t('search.city'), options: cities, value: values.city, required: true,
      attrs: { onchange: () => { if (values.kind === 'hospital') { keepTyped(); drawFields(); } } },
    });
    // The native date inputs hold the dates; the calendar beside them writes into them.
    const dates = (start, end, unit) => [start, end, dateRange(start.querySelector('input'), end.querySelector('input'), unit)];
    if (values.kind === 'hotel') {
      replace(fields, common,
        dates(
          field({ name: 'check_in', label: t('search.check_in'), type: 'date', value: values.check_in, required: true, attrs: { min: isoDay() } }),
          field({ name: 'check_out', label: t('search.check_out'), type: 'date', value: values.check_out, required: true, attrs: { min: isoDay() } }),
          'nights'),
        editor);
    } else {
      replace(fields, common,
        field({
          name: 'specialty',
          label: t('search.specialty'),
          options: [['', t('search.any_specialty')], ...citySpecialties(known).map((s) => [s, label('specialty', s)])],
          value: values.specialty,
        }),
        dates(
          field({ name: 'from', label: t('search.from'), type: 'date', value: values.from, required: true, attrs: { min: isoDay() } }),
          field({ name: 'to', label: t('search.to'), type: 'date', value: values.to, required: true, attrs: { min: isoDay() } }),
          'days'));
    }
  }

  /** What was typed into the form, kept before it is drawn again. */
  function keepTyped() {
    for (const [key, value] of new FormData(searchForm).entries()) {
      if (!key.startsWith('room-')) values[key] = String(value).trim();
    }
  }

  /** The specialties of the chosen city's clinics (all of them until the city is known). */
  function citySpecialties(known) {
    const city = known?.cities.find((c) => c.slug === values.city);
    return city?.specialties ?? known?.specialties ?? [];
  }

  const searchForm = form({ class: 'card-panel search', role: 'search', 'aria-label': t('search.title') },
    [kindChoice, fields, h('div', { class: 'actions' }, submit)],
    (data, formEl) => {
      clearErrors(formEl);
      for (const [key, value] of data.entries()) {
        if (!key.startsWith('room-')) values[key] = String(value).trim();
      }
      Object.assign(values, occupancyQuery(rooms));
      const query = searchQuery(values);
      if (showErrors(formEl, validate(query, rooms))) return;
      if (onSearch) onSearch(query);
      else run(query, formEl);
    });
  drawFields();
  replace(container, h(options.headingLevel ?? 'h1', null, options.heading ?? t('search.title')), searchForm, results);

  // How hotel results are sorted and filtered; kept across searches on this page.
  let view = defaultView();

  /** Runs `query`; `refine` names the view's control that changed, which keeps focus. */
  async function run(query, formEl, { refine = null } = {}) {
    results.setAttribute('aria-busy', 'true');
    if (!refine) replace(results, loading());
    try {
      // A week of one clinic's slots is more than the default 50 offers.
      // On the console, the client's plan prices the offers, as it will the booking.
      let asked = options.customerId ? { ...query, customer_id: options.customerId } : query;
      asked = query.kind === 'hospital' ? { ...asked, limit: 200 } : { ...asked, ...viewQuery(view) };
      // The hints name cities from the options: wait for them too (asked once a page).
      const [answer] = await busy(submit, () => Promise.all([api.get('/v1/search', asked), searchOptions(api).catch(() => null)]));
      if (signal?.aborted) return;
      drawResults(answer, query, { refine });
    } catch (error) {
      if (signal?.aborted) return;
      if (error.code === 'query.invalid') {
        replace(results);
        showProblem(formEl, error);
      } else {
        replace(results, failure(error, () => run(query, formEl)));
      }
    } finally {
      results.setAttribute('aria-busy', 'false');
    }
  }

  function drawResults(answer, query, { refine }) {
    const notes = answer.providers
      .filter((p) => p.status !== 'ok')
      .map((p) => h('li', { class: `provider-note ${p.status}` },
        t(`search.provider_${p.status}`, { provider: name(p) })));
    const hotels = query.kind === 'hotel' ? byHotel(answer.offers) : [];
    const summary = answer.offers.length
      ? t(query.kind === 'hotel' ? 'search.found_hotels' : 'search.found', { offers: answer.offers.length, hotels: hotels.length, providers: answer.providers.length })
      : t('search.none');
    announce(summary);
    const cards = query.kind === 'hospital'
      ? clinics(answer.offers).map((slots) => clinicCard(slots, query))
      : hotels.map((offers) => hotelCard(offers, (offer) => roomRow(offer, query)));
    const title = h('h2', { id: 'results-title', tabindex: '-1' }, t('search.results'));
    replace(results,
      // Before the title: after a search, the next Tab still reaches the first Book button.
      query.kind === 'hotel' ? viewControls(view, (next, control) => { view = next; run(query, searchForm, { refine: control }); }) : null,
      title,
      h('p', { class: 'summary' }, summary),
      answer.hints?.length ? hintList(answer.hints, hintContext(query)) : null,
      // The live region wraps the list: a role on the <ul> itself would hide its items' list.
      notes.length ? h('div', { class: 'alert warning', role: 'status' }, h('ul', { class: 'notes' }, notes)) : null,
      answer.truncated ? h('p', { class: 'muted' }, t('search.truncated')) : null,
      // A clinic's slots "with a hotel nearby" (packages.js), above the long list of slots.
      query.kind === 'hospital' && options.onPackageHeld && answer.offers.length
        ? packageOffers({ api, query, customerId: options.customerId, beforeBook: options.beforeBook, onHeld: options.onPackageHeld })
        : null,
      cards.length ? h('ul', { class: `offers ${query.kind}` }, cards.map((card) => h('li', null, card))) : null,
      // Nothing free: "notify me" when our own rooms or clinics free up (waitlist.js).
      answer.offers.length ? null : notifyMe({ api, query, customerId: options.customerId, beforeJoin: options.beforeBook }));
    if (refine) {
      results.querySelector(`.view-controls [name="${refine}"]`)?.focus();
      return;
    }
    // The answer takes focus, so the next Tab reaches the first result's Book button; it
    // scrolls into view with the sort and filters above it.
    title.focus({ preventScroll: true });
    results.scrollIntoView({ block: 'start' });
  }

  /** What an empty answer's hints act on: the form's dates, rooms and city, the view. */
  function hintContext(query) {
    const resubmit = () => searchForm.requestSubmit();
    const set = (fieldName, value) => {
      const control = searchForm.querySelector(`[name="${fieldName}"]`);
      if (control) control.value = value;
    };
    const known = knownOptions?.[query.kind]?.cities ?? [];
    // Another city: those of the kind, and for a specialty, those whose clinics have it.
    const cities = known.filter((c) => c.slug !== query.city
      && (!query.specialty || (c.specialties ?? []).includes(query.specialty)));
    return {
      city: cityLabel(query.city),
      specialty: query.specialty ? label('specialty', query.specialty) : '',
      cities,
      actions: {
        laterDates: () => {
          for (const key of query.kind === 'hotel' ? ['check_in', 'check_out'] : ['from', 'to']) set(key, addDays(query[key], 7));
          resubmit();
        },
        editRooms: () => searchForm.querySelector('.rooms-editor .add-room')?.focus(),
        otherCity: (slug) => {
          values.city = slug;
          set('city', slug);
          resubmit();
        },
        clearFilters: () => {
          view = defaultView();
          run(query, searchForm);
        },
      },
    };
  }

  function termsLine(text) {
    return text ? h('p', { class: 'terms muted' }, text) : null;
  }

  /** The appointments of each clinic (provider and service), earliest first. */
  function clinics(offers) {
    const groups = new Map();
    for (const offer of offers) {
      const key = `${offer.provider.id}|${offer.unit.code}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(offer);
    }
    return [...groups.values()].map((slots) => slots.sort((a, b) => a.start.localeCompare(b.start)));
  }

  /** One room type of a hotel's card: who it sleeps, its price, its terms, its Book button. */
  function roomRow(offer, query) {
    const tz = offer.provider.timezone;
    const alert = h('div', { class: 'alert error', role: 'alert', hidden: true });
    const id = `offer-${offer.offer_id.slice(-12)}`;
    const button = h('button', { type: 'button', class: 'book', 'aria-describedby': id }, t('search.book'));
    const attempt = new Attempt();
    button.addEventListener('click', () => book(offer, { button, alert, attempt, query }));
    const few = Number.isInteger(offer.available) && offer.available <= FEW_LEFT;
    // What the room is, then what it costs: side by side on a wide screen, stacked on a phone.
    return h('section', { class: 'offer room-type', 'aria-labelledby': id },
      h('div', { class: 'room-about' },
        h('h4', { id, class: 'unit' }, name(offer.unit)),
        few ? h('p', { class: 'left' }, plural('count.left', offer.available)) : null,
        h('p', { class: 'guests muted' }, t('offer.guests_rooms', { guests: offer.guests ?? query.guests, rooms: offer.quantity })),
        roomLines(offer)),
      h('div', { class: 'room-money' },
        priceTable(offer.price, offer),
        termsLine(cancellationLine(offer.terms, tz)),
        alert,
        h('div', { class: 'actions' }, button)));
  }

  /** Each room with who stays in it and its share of the provider's price. */
  function roomLines(offer) {
    if (!offer.rooms?.length) return null;
    return h('ul', { class: 'room-lines', 'aria-label': t('rooms.list') },
      offer.rooms.map((room, i) => h('li', null, roomText(room, i), ' — ', h('span', { class: 'room-price' }, money(room.price, offer.price.currency)))));
  }

  /** One clinic: its price once, then its free times day by day, each a button that books it. */
  function clinicCard(slots, query) {
    const [first] = slots;
    const tz = first.provider.timezone;
    const alert = h('div', { class: 'alert error', role: 'alert', hidden: true });
    // The whole code: readable codes share their starts (`cardiology-al-…`), ids may not.
    const id = `clinic-${first.provider.id.slice(0, 8)}-${first.unit.code}`;
    const attempt = new Attempt();
    const days = new Map();
    for (const slot of slots) {
      const day = isoDay(new Date(slot.start), tz);
      if (!days.has(day)) days.set(day, []);
      days.get(day).push(slot);
    }
    return h('article', { class: 'offer clinic', 'aria-labelledby': id },
      h('h3', { id }, name(first.provider)),
      h('p', { class: 'unit' }, name(first.unit)),
      priceTable(first.price, first),
      termsLine(cancellationLine(first.terms, tz, { start: first.start })),
      alert,
      [...days.values()].map((daySlots) => {
        const date = when(daySlots[0].start, tz);
        return h('section', { class: 'day' },
          h('h4', null, date),
          h('ul', { class: 'slots' }, daySlots.map((slot) => {
            const time = clock(slot.start, tz);
            const button = h('button', { type: 'button', class: 'slot secondary small', dataset: { start: slot.start } },
              time, h('span', { class: 'visually-hidden' }, ` — ${t('search.book')} ${date.textContent}`));
            button.addEventListener('click', () => book(slot, { button, alert, attempt, query }));
            return h('li', null, button);
          })));
      }));
  }

  /**
   * Holds `offer` (for the client, on the console); `alert` shows why it could not. A
   * hospital appointment first asks who the patient is (`patientDialog`); a stay of several
   * rooms asks each room's lead guest (`leadDialog`), `leads` once known.
   */
  async function book(offer, { button, alert, attempt, query, patient, leads }) {
    alert.hidden = true;
    if (options.beforeBook && !options.beforeBook()) return;
    const body = { offer_id: offer.offer_id };
    if (options.customerId) body.customer_id = options.customerId;
    if (patient) body.patient = patient;
    if (offer.rooms?.length > 1 && !leads) {
      const guestName = options.customerId ? options.guestName ?? '' : api.user?.full_name ?? '';
      leadDialog(offer, { guestName }, (names, dialogButton, formEl, dialog) => busy(dialogButton, async () => {
        try {
          const booking = await api.post('/v1/bookings', { ...body, rooms: bookedRooms(offer, names) }, attempt);
          dialog.close();
          held(booking);
        } catch (error) {
          if ((error.fieldErrors ?? []).some((e) => e.field.startsWith('rooms'))) {
            showProblem(formEl, error, leadFields(offer));
            return;
          }
          dialog.close();
          refused(error, offer, { button, alert, attempt, query, leads: names });
        }
      }));
      return;
    }
    if (leads) body.rooms = bookedRooms(offer, leads);
    if (offer.provider.kind === 'hospital' && !patient) {
      patientDialog(offer, { staff: Boolean(options.customerId) }, (patient, dialogButton, formEl, dialog) => busy(dialogButton, async () => {
        try {
          const booking = await api.post('/v1/bookings', { ...body, patient }, attempt);
          dialog.close();
          held(booking);
        } catch (error) {
          if ((error.fieldErrors ?? []).some((e) => e.field.startsWith('patient'))) {
            showProblem(formEl, error, PATIENT_FIELDS);
            return;
          }
          dialog.close();
          refused(error, offer, { button, alert, attempt, query, patient });
        }
      }));
      return;
    }
    await busy(button, async () => {
      try {
        held(await api.post('/v1/bookings', body, attempt));
      } catch (error) {
        refused(error, offer, { button, alert, attempt, query, patient });
      }
    });
  }

  function held(booking) {
    // An agent hears whom it is held for; a customer, that it is theirs.
    announce(options.customerId
      ? t('agent.held', { reference: booking.reference, name: options.guestName })
      : t('booking.held', { reference: booking.reference }));
    options.onBooked(booking);
  }

  /** Why a hold was refused, with what can be done next. */
  function refused(error, offer, { button, alert, attempt, query, patient, leads }) {
    replace(alert, h('p', null, problemText(error)));
    if (error.code === 'booking.offer_changed' && error.problem.offer) {
      const fresh = error.problem.offer;
      // The same patient or lead guests, at the new price: not asked again.
      alert.append(priceTable(fresh.price, fresh),
        h('button', { type: 'button', onclick: (event) => book(fresh, { button: event.currentTarget, alert, attempt, query, patient, leads }) }, t('search.book_new_price')));
    } else if (error.code === 'offer.expired' || error.code === 'booking.sold_out') {
      alert.append(h('button', { type: 'button', class: 'secondary', onclick: () => run(query, searchForm) }, t('search.again')));
    }
    alert.hidden = false;
    alert.scrollIntoView({ block: 'nearest' });
  }

  /** The hold's `rooms`: the offer's rooms in its order, each under its lead guest. */
  function bookedRooms(offer, names) {
    return offer.rooms.map((room, i) => ({
      lead_guest: names[i],
      adults: room.adults,
      ...(room.children?.length ? { children: room.children } : {}),
    }));
  }

  if (params.kind) run(searchQuery(values), searchForm);
  if (!knownOptions) {
    searchOptions(api).then(() => {
      if (signal?.aborted || !searchForm.isConnected) return;
      keepTyped();
      drawFields();
    }, (error) => {
      if (!signal?.aborted) fields.prepend(failure(error));
    });
  }
}
