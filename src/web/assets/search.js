// Searching hotels or hospital appointments, and booking an offer. Shared by the customer
// site and the agent console (which books for a client, `customerId`).
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce } from './dom.js';
import { t, has, plural, problemText } from './i18n.js';
import { when, priceTable, name, money, isoDay, addDays, clock, cancellationLine } from './format.js';
import { Attempt } from './api.js';
import { parseRooms, occupancyQuery, roomsEditor, roomsErrors, roomText } from './rooms.js';

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

/** A city or specialty in the reader's language: ours by name, else as the office typed it. */
function label(kind, value) {
  if (has(`${kind}.${value}`)) return t(`${kind}.${value}`);
  return value.replace(/(^|[\s-])(\p{L})/gu, (_, gap, letter) => gap + letter.toUpperCase());
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
    const cityNames = known ? known.cities : [values.city].filter(Boolean);
    if (known && !cityNames.includes(values.city)) values.city = cityNames[0] ?? '';
    const cities = cityNames.map((c) => [c, label('city', c)]);
    const common = field({ name: 'city', label: t('search.city'), options: cities, value: values.city, required: true });
    if (values.kind === 'hotel') {
      replace(fields, common,
        field({ name: 'check_in', label: t('search.check_in'), type: 'date', value: values.check_in, required: true, attrs: { min: isoDay() } }),
        field({ name: 'check_out', label: t('search.check_out'), type: 'date', value: values.check_out, required: true, attrs: { min: isoDay() } }),
        editor);
    } else {
      replace(fields, common,
        field({
          name: 'specialty',
          label: t('search.specialty'),
          options: [['', t('search.any_specialty')], ...(known?.specialties ?? []).map((s) => [s, label('specialty', s)])],
          value: values.specialty,
        }),
        field({ name: 'from', label: t('search.from'), type: 'date', value: values.from, required: true, attrs: { min: isoDay() } }),
        field({ name: 'to', label: t('search.to'), type: 'date', value: values.to, required: true, attrs: { min: isoDay() } }));
    }
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

  async function run(query, formEl) {
    results.setAttribute('aria-busy', 'true');
    replace(results, loading());
    try {
      // A week of one clinic's slots is more than the default 50 offers.
      // On the console, the client's plan prices the offers, as it will the booking.
      const asked = options.customerId ? { ...query, customer_id: options.customerId } : query;
      const answer = await busy(submit, () => api.get('/v1/search', query.kind === 'hospital' ? { ...asked, limit: 200 } : asked));
      if (signal?.aborted) return;
      drawResults(answer, query);
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

  function drawResults(answer, query) {
    const notes = answer.providers
      .filter((p) => p.status !== 'ok')
      .map((p) => h('li', { class: `provider-note ${p.status}` },
        t(`search.provider_${p.status}`, { provider: name(p) })));
    const summary = answer.offers.length
      ? t('search.found', { offers: answer.offers.length, providers: answer.providers.length })
      : t('search.none');
    announce(summary);
    const cards = query.kind === 'hospital'
      ? clinics(answer.offers).map((slots) => clinicCard(slots, query))
      : answer.offers.map((offer) => stayCard(offer, query));
    const title = h('h2', { id: 'results-title', tabindex: '-1' }, t('search.results'));
    replace(results,
      title,
      h('p', { class: 'summary' }, summary),
      // The live region wraps the list: a role on the <ul> itself would hide its items' list.
      notes.length ? h('div', { class: 'alert warning', role: 'status' }, h('ul', { class: 'notes' }, notes)) : null,
      answer.truncated ? h('p', { class: 'muted' }, t('search.truncated')) : null,
      h('ul', { class: `offers ${query.kind}` }, cards.map((card) => h('li', null, card))));
    // The answer takes focus, so the next Tab reaches the first result's Book button.
    title.focus({ preventScroll: true });
    title.scrollIntoView({ block: 'start' });
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

  function stayCard(offer, query) {
    const tz = offer.provider.timezone;
    const alert = h('div', { class: 'alert error', role: 'alert', hidden: true });
    const button = h('button', { type: 'button', class: 'book' }, t('search.book'));
    const id = `offer-${offer.offer_id.slice(-12)}`;
    const attempt = new Attempt();
    button.addEventListener('click', () => book(offer, { button, alert, attempt, query }));
    const few = Number.isInteger(offer.available) && offer.available <= FEW_LEFT;
    return h('article', { class: 'offer', 'aria-labelledby': id },
      h('h3', { id }, name(offer.provider)),
      h('p', { class: 'unit' }, name(offer.unit)),
      few ? h('p', { class: 'left' }, plural('count.left', offer.available)) : null,
      h('dl', { class: 'facts' },
        h('dt', null, t('offer.check_in')), h('dd', null, when(offer.start, tz)),
        h('dt', null, t('offer.check_out')), h('dd', null, when(offer.end, tz)),
        h('dt', null, t('offer.nights')), h('dd', null, String(offer.nights ?? '')),
        h('dt', null, t('offer.guests')), h('dd', null, t('offer.guests_rooms', { guests: offer.guests ?? query.guests, rooms: offer.quantity }))),
      roomLines(offer),
      priceTable(offer.price, offer),
      termsLine(cancellationLine(offer.terms, tz)),
      alert,
      h('div', { class: 'actions' }, button));
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
      leadDialog(offer, (names, dialogButton, formEl, dialog) => busy(dialogButton, async () => {
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
      patientDialog(offer, (patient, dialogButton, formEl, dialog) => busy(dialogButton, async () => {
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

  /** The API's paths of the rooms' fields, to the lead-guest dialog's inputs. */
  function leadFields(offer) {
    return Object.fromEntries([['rooms', 'lead_1'],
      ...offer.rooms.flatMap((_, i) => [[`rooms[${i}].lead_guest`, `lead_${i + 1}`], [`rooms[${i}]`, `lead_${i + 1}`]])]);
  }

  /**
   * Asks whose name each room of a stay is under, each room's guests beside it. Every room
   * starts with the customer's name (on the console, the client's). `submit(names, button,
   * form, dialog)` holds; the server's field errors are shown here.
   */
  function leadDialog(offer, submit) {
    const titleId = `lead-title-${offer.offer_id.slice(-8)}`;
    const guestName = options.customerId ? options.guestName ?? '' : api.user?.full_name ?? '';
    const send = h('button', { type: 'submit' }, t('lead.submit'));
    const back = h('button', { type: 'button', class: 'secondary' }, t('patient.back'));
    const leadForm = form({ class: 'leads' }, [
      h('p', { class: 'muted' }, t('lead.intro')),
      offer.rooms.map((room, i) => field({
        name: `lead_${i + 1}`, label: t('lead.name', { room: i + 1 }), hint: roomText(room, i), value: guestName, required: true,
        attrs: { maxlength: '200', autocomplete: 'off' },
      })),
      h('div', { class: 'actions' }, send, back),
    ], (data, formEl) => {
      clearErrors(formEl);
      const names = offer.rooms.map((_, i) => String(data.get(`lead_${i + 1}`) ?? '').trim());
      const missing = names.flatMap((value, i) => (value ? [] : [[`lead_${i + 1}`, t('lead.required')]]));
      if (showErrors(formEl, missing)) return;
      submit(names, send, formEl, dialog);
    });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, t('lead.title')),
      h('p', null, name(offer.provider), ' — ', name(offer.unit)),
      leadForm);
    back.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    leadForm.querySelector('input')?.focus();
  }

  /**
   * Asks who will be seen: full name, date of birth, the kind of ID and its number (and a
   * passport's country). `submit(patient, button, form, dialog)` sends it; the server checks
   * the number (its check digit too) and its field errors are shown here.
   */
  function patientDialog(offer, submit) {
    const titleId = `patient-title-${offer.offer_id.slice(-8)}`;
    const country = field({
      name: 'passport_country', label: t('patient.passport_country'), hint: t('patient.passport_country_hint'),
      attrs: { maxlength: '3', autocomplete: 'off', dir: 'ltr', autocapitalize: 'characters' },
    });
    const idType = field({
      name: 'id_type', label: t('patient.id_type'), required: true, value: 'national_id',
      options: ['national_id', 'iqama', 'passport'].map((kind) => [kind, t(`patient.id_type.${kind}`)]),
      attrs: { onchange: (event) => { country.hidden = event.target.value !== 'passport'; } },
    });
    country.hidden = true;
    const send = h('button', { type: 'submit' }, t('patient.submit'));
    const back = h('button', { type: 'button', class: 'secondary' }, t('patient.back'));
    const patientForm = form({ class: 'patient' }, [
      h('p', { class: 'muted' }, t(options.customerId ? 'patient.intro_staff' : 'patient.intro')),
      field({ name: 'full_name', label: t('patient.full_name'), required: true, attrs: { maxlength: '200', autocomplete: options.customerId ? 'off' : 'name' } }),
      field({ name: 'birth_date', label: t('patient.birth_date'), type: 'date', required: true, attrs: { max: isoDay(), autocomplete: options.customerId ? 'off' : 'bday' } }),
      idType,
      field({ name: 'id_number', label: t('patient.id_number'), hint: t('patient.id_number_hint'), required: true, attrs: { maxlength: '20', autocomplete: 'off', dir: 'ltr', spellcheck: 'false' } }),
      country,
      h('div', { class: 'actions' }, send, back),
    ], (data, formEl) => {
      clearErrors(formEl);
      const value = (name) => String(data.get(name) ?? '').trim();
      const missing = ['full_name', 'birth_date', 'id_number'].filter((name) => !value(name));
      if (showErrors(formEl, missing.map((name) => [name, t('patient.required')]))) return;
      const patient = { full_name: value('full_name'), birth_date: value('birth_date'), id_type: value('id_type'), id_number: value('id_number') };
      if (patient.id_type === 'passport' && value('passport_country')) patient.passport_country = value('passport_country');
      submit(patient, send, formEl, dialog);
    });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, t('patient.title')),
      h('p', null, name(offer.provider), ' — ', name(offer.unit), ' — ', when(offer.start, offer.provider.timezone, { time: true })),
      patientForm);
    back.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    patientForm.querySelector('input')?.focus();
  }

  if (params.kind) run(searchQuery(values), searchForm);
  if (!knownOptions) {
    searchOptions(api).then(() => {
      if (signal?.aborted || !searchForm.isConnected) return;
      // Keep what was typed meanwhile.
      for (const [key, value] of new FormData(searchForm).entries()) {
        if (!key.startsWith('room-')) values[key] = String(value).trim();
      }
      drawFields();
    }, (error) => {
      if (!signal?.aborted) fields.prepend(failure(error));
    });
  }
}
