// What a hotel search shows besides the offers themselves: one card per hotel with its
// photo, address and distance, its room types inside; the sort and filter controls; and the
// sentences an empty answer's `hints` become, each with the action that follows from it.
import { h } from './dom.js';
import { lang, t } from './i18n.js';
import { name, when } from './format.js';

/** The API's query for a view: only what differs from cheapest-first and no filters. */
export function viewQuery(view) {
  const query = {};
  if (view.sort !== 'price') query.sort = view.sort;
  if (view.price_min) query.price_min = view.price_min;
  if (view.price_max) query.price_max = view.price_max;
  if (view.free_cancellation) query.free_cancellation = 'true';
  if (view.pay_at_provider) query.pay_at_provider = 'true';
  return query;
}

export function defaultView() {
  return { sort: 'price', price_min: '', price_max: '', free_cancellation: false, pay_at_provider: false };
}

/** "1.2 km from Al-Masjid al-Haram", "2.4 km from the centre of Riyadh". */
export function distanceText(distance) {
  if (!distance) return null;
  const km = new Intl.NumberFormat(lang() === 'ar' ? 'ar-SA-u-nu-latn' : 'en-GB', { maximumFractionDigits: 1 })
    .format(distance.km);
  const place = name(distance);
  return distance.to === 'landmark' ? t('hotel.distance_landmark', { km, place }) : t('hotel.distance_centre', { km, place });
}

/**
 * The sort and filter controls. `onChange(view, name)` runs the search again; the control
 * `name` keeps focus, so someone changing several filters by keyboard stays where they are.
 */
export function viewControls(view, onChange) {
  const changed = (name) => onChange({ ...view }, name);
  const sort = h('select', { id: 'view-sort', name: 'sort', onchange: (event) => { view.sort = event.target.value; changed('sort'); } },
    ['price', 'distance'].map((value) => h('option', { value, selected: view.sort === value }, t(`view.sort.${value}`))));
  // The price range: a lowest and a highest price per stay, each optional.
  const price = (key) => h('div', { class: 'view-field' },
    h('label', { for: `view-${key}` }, t(`view.${key}`)),
    h('input', {
      id: `view-${key}`, name: key, type: 'number', min: '0', step: '50', inputmode: 'numeric', value: view[key],
      onchange: (event) => { view[key] = event.target.value.trim(); changed(key); },
    }));
  const toggle = (key) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: key, checked: view[key], onchange: (event) => { view[key] = event.target.checked; changed(key); } }),
    h('span', null, t(`view.${key}`)));
  return h('div', { class: 'view-controls', role: 'group', 'aria-label': t('view.title') },
    h('div', { class: 'view-field' }, h('label', { for: 'view-sort' }, t('view.sort')), sort),
    price('price_min'),
    price('price_max'),
    toggle('free_cancellation'),
    toggle('pay_at_provider'));
}

/** The offers of each hotel, hotels in the order of their first (best-placed) offer. */
export function byHotel(offers) {
  const hotels = new Map();
  for (const offer of offers) {
    if (!hotels.has(offer.provider.id)) hotels.set(offer.provider.id, []);
    hotels.get(offer.provider.id).push(offer);
  }
  return [...hotels.values()];
}

/**
 * One hotel: photo, name, address, distance and the stay's dates once, then a row per room
 * type made by `roomRow(offer)` (its price, what is paid when, its Book button).
 */
export function hotelCard(offers, roomRow) {
  const [first] = offers;
  const { provider } = first;
  const tz = provider.timezone;
  const id = `hotel-${provider.id.slice(0, 8)}`;
  const address = lang() === 'ar' ? provider.address_ar : provider.address_en;
  return h('article', { class: 'hotel-card', 'aria-labelledby': id },
    // The name beside it says what it shows: decorative to a screen reader.
    provider.photo_url
      ? h('img', { class: 'hotel-photo', src: provider.photo_url, alt: '', width: '320', height: '200', loading: 'lazy' })
      : h('div', { class: 'hotel-photo none', 'aria-hidden': 'true' }),
    h('div', { class: 'hotel-body' },
      h('h3', { id }, name(provider)),
      address ? h('p', { class: 'address' }, address) : null,
      first.distance ? h('p', { class: 'distance' }, distanceText(first.distance)) : null,
      h('dl', { class: 'facts stay' },
        h('dt', null, t('offer.check_in')), h('dd', null, when(first.start, tz)),
        h('dt', null, t('offer.check_out')), h('dd', null, when(first.end, tz)),
        h('dt', null, t('offer.nights')), h('dd', null, String(first.nights ?? ''))),
      h('ul', { class: 'room-types', 'aria-label': t('hotel.room_types') },
        offers.map((offer) => h('li', null, roomRow(offer))))));
}

/**
 * An empty answer's hints as sentences, each with its action: other dates a week later,
 * more rooms, a city that has it, the filters cleared. `actions` holds the callbacks;
 * `cities` the cities to offer (each `{ slug, name_ar, name_en }`), `city` and `specialty`
 * name what was asked.
 */
export function hintList(hints, { actions, cities, city, specialty }) {
  const items = hints.map((hint) => {
    switch (hint) {
      case 'other_dates':
        return h('li', null, t('hint.other_dates'), ' ',
          h('button', { type: 'button', class: 'secondary small', onclick: actions.laterDates }, t('hint.week_later')));
      case 'fewer_guests_per_room':
        return h('li', null, t('hint.fewer_guests_per_room'), ' ',
          h('button', { type: 'button', class: 'secondary small', onclick: actions.editRooms }, t('hint.edit_rooms')));
      case 'no_clinic_of_specialty_in_city':
        return h('li', null, t('hint.no_clinic', { city, specialty }));
      case 'fewer_filters':
        return h('li', null, t('hint.fewer_filters'), ' ',
          h('button', { type: 'button', class: 'secondary small', onclick: actions.clearFilters }, t('hint.clear_filters')));
      case 'other_city':
        if (!cities.length) return h('li', null, t('hint.no_other_city'));
        return h('li', null, t('hint.other_city'), ' ',
          h('span', { class: 'city-choices' }, cities.map((other) => h('button', {
            type: 'button', class: 'secondary small', onclick: () => actions.otherCity(other.slug),
          }, name(other)))));
      default:
        return null;
    }
  });
  return h('ul', { class: 'hints' }, items);
}
