// The client on the line: find them by phone or enter them, then search and book for them.
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce, focusHeading } from './dom.js';
import { t, lang } from './i18n.js';
import { renderSearch } from './search.js';
import { myWaitlist } from './waitlist.js';
import { bookingTable } from './bookings.js';
import { Attempt } from './api.js';

const PHONE = /^\+?[0-9][0-9\s-]{6,}$/;
// A booking reference as read out on the phone: six of its characters, with or without
// "WS-" (src/bookings/reference.rs); a phone number has at least seven digits.
const REFERENCE = /^(?:WS-?)?[2-9A-HJKMNP-Z]{6}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function renderClientDesk(container, { api, signal, customerId, go }) {
  if (customerId) showClient(container, { api, signal, customerId, go });
  else findClient(container, { api, go });
}

function findClient(container, { api, go }) {
  const results = h('div', { class: 'client-results' });
  const createSlot = h('div');
  const submit = h('button', { type: 'submit' }, t('client.find'));
  const findForm = form({ class: 'card-panel', role: 'search', 'aria-labelledby': 'find-title' }, [
    h('h2', { id: 'find-title' }, t('client.lookup_title')),
    field({ name: 'phone', label: t('client.lookup'), required: true, hint: t('client.lookup_hint'), attrs: { dir: 'ltr', autocomplete: 'off' } }),
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'secondary', onclick: () => showCreate('') }, t('client.new'))),
  ], async (data, formEl) => {
    clearErrors(formEl);
    const phone = String(data.get('phone')).trim();
    const reference = phone.toUpperCase().replace(/\s/g, '');
    if (REFERENCE.test(reference)) {
      await openBooking(reference, formEl);
      return;
    }
    if (showErrors(formEl, PHONE.test(phone) ? [] : [['phone', t('client.lookup_invalid')]])) return;
    replace(results, loading());
    await busy(submit, async () => {
      try {
        const { customers } = await api.get('/v1/customers', { phone });
        announce(t('client.found', { count: customers.length }));
        replace(results, customers.length
          ? h('ul', { class: 'clients' }, customers.map((customer) => h('li', null, clientCard(customer,
            h('a', { href: `#/client/${customer.id}`, class: 'button small' }, t('client.select'))))))
          : h('p', { class: 'muted' }, t('client.none')));
        // A client on file is served, not entered again: the form is for a number we lack.
        if (customers.length) replace(createSlot);
        else showCreate(phone);
      } catch (error) {
        replace(results);
        showProblem(formEl, error);
      }
    });
  });

  /** A booking read out by its reference: straight to it, whoever's it is. */
  async function openBooking(reference, formEl) {
    await busy(submit, async () => {
      try {
        const booking = await api.get(`/v1/bookings/${encodeURIComponent(reference)}`);
        go(`#/booking/${booking.id}`);
      } catch (error) {
        if (error.code === 'resource.not_found') showErrors(formEl, [['phone', t('client.no_reference', { reference })]]);
        else showProblem(formEl, error);
      }
    });
  }

  function showCreate(phone) {
    // A retry after a lost answer must not enter the client twice.
    const attempt = new Attempt();
    const save = h('button', { type: 'submit' }, t('client.create'));
    const createForm = form({ class: 'card-panel', 'aria-labelledby': 'create-title' }, [
      h('h2', { id: 'create-title' }, t('client.create_title')),
      field({ name: 'full_name', label: t('auth.full_name'), required: true, attrs: { maxlength: '200', autocomplete: 'off' } }),
      field({ name: 'phone', label: t('client.phone'), type: 'tel', value: phone, required: true, attrs: { dir: 'ltr', autocomplete: 'off' } }),
      field({ name: 'email', label: t('client.email_optional'), type: 'email', attrs: { dir: 'ltr', autocomplete: 'off' } }),
      field({ name: 'locale', label: t('client.locale'), options: [['ar', 'العربية'], ['en', 'English']], value: lang() }),
      h('div', { class: 'actions' }, save),
    ], async (data, formEl) => {
      clearErrors(formEl);
      const body = {
        full_name: String(data.get('full_name')).trim(),
        phone: String(data.get('phone')).trim(),
        email: String(data.get('email')).trim() || null,
        locale: String(data.get('locale')),
      };
      const errors = [];
      if (!body.full_name) errors.push(['full_name', t('auth.error.name')]);
      if (!PHONE.test(body.phone)) errors.push(['phone', t('field.phone')]);
      if (body.email && !EMAIL.test(body.email)) errors.push(['email', t('auth.error.email')]);
      if (showErrors(formEl, errors)) return;
      await busy(save, async () => {
        try {
          const customer = await api.post('/v1/customers', body, attempt);
          announce(t('client.created', { name: customer.full_name }));
          go(`#/client/${customer.id}`);
        } catch (error) {
          showProblem(formEl, error);
        }
      });
    });
    replace(createSlot, createForm);
    if (!phone) createForm.querySelector('input')?.focus();
  }

  replace(container, h('h1', null, t('client.title')), findForm, results, createSlot);
  focusHeading(container);
}

function clientCard(customer, action) {
  return h('article', { class: 'client' },
    h('h3', null, customer.full_name),
    h('p', null,
      customer.phone ? h('span', { dir: 'ltr' }, customer.phone) : null,
      customer.email ? [' · ', h('span', { dir: 'ltr' }, customer.email)] : null),
    h('p', { class: 'muted' }, customer.has_login ? t('client.has_login') : t('client.phone_only')),
    action);
}

async function showClient(container, { api, signal, customerId, go }) {
  replace(container, loading());
  let customer;
  try {
    customer = await api.get(`/v1/customers/${encodeURIComponent(customerId)}`);
  } catch (error) {
    if (!signal?.aborted) replace(container, failure(error, () => showClient(container, { api, signal, customerId, go })));
    return;
  }
  if (signal?.aborted) return;
  const searchSlot = h('section', { class: 'for-client' });
  const history = bookingTable({
    api, query: { customer_id: customer.id, limit: 10 }, href: (b) => `#/booking/${b.id}`,
    caption: t('client.bookings'), empty: t('client.no_bookings'),
  });
  replace(container,
    h('h1', null, t('client.booking_for', { name: customer.full_name })),
    h('div', { class: 'card-panel client-bar' },
      clientCard(customer, h('a', { href: '#/client', class: 'button secondary small' }, t('client.change')))),
    searchSlot,
    h('section', { class: 'card-panel', 'aria-labelledby': 'client-bookings' },
      h('h2', { id: 'client-bookings' }, t('client.bookings')),
      history.element),
    // The client's waitlists (#16 point 2), each with its offer and "leave".
    h('div', { class: 'card-panel' }, myWaitlist({ api, customerId: customer.id, onChange: () => history.load() })));
  focusHeading(container);
  renderSearch(searchSlot, {
    api,
    signal,
    customerId: customer.id,
    guestName: customer.full_name,
    heading: t('client.search'),
    headingLevel: 'h2',
    onBooked: (booking) => go(`#/booking/${booking.id}`),
    onPackageHeld: (held) => go(`#/package/${held.id}`),
  });
  history.load();
}
