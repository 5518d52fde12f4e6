// Lists of bookings: "my bookings" on the site, the queues in the agent console.
import { h, replace, loading, failure, busy, badge, focusHeading } from './dom.js';
import { t } from './i18n.js';
import { gregorian, hijri, money, name, clock } from './format.js';
import { myWaitlist } from './waitlist.js';

/**
 * A table of bookings, paged by `next_cursor`. `href(booking)` links each to its page;
 * `actions(booking)` may add buttons (the console's retry).
 */
export function bookingTable({ api, query, href, actions, empty, caption }) {
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  const status = h('div', { class: 'table-status' });
  const table = h('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: '0' },
    h('table', { class: 'bookings' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, t('list.reference')),
        h('th', { scope: 'col' }, t('list.provider')),
        h('th', { scope: 'col' }, t('list.when')),
        h('th', { scope: 'col' }, t('list.guest')),
        h('th', { scope: 'col' }, t('list.status')),
        h('th', { scope: 'col' }, t('list.total')),
        actions ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('list.actions'))) : null)),
      body));
  const wrapper = h('div', null, status, table, h('div', { class: 'actions' }, more));
  let cursor = null;

  function row(booking) {
    const tz = booking.provider.timezone;
    const hospital = booking.provider.kind === 'hospital';
    const tr = h('tr', { dataset: { reference: booking.reference } },
      h('td', null, h('a', { href: href(booking), dir: 'ltr' }, booking.reference),
        booking.flagged_at ? h('span', { class: 'flag', title: t('booking.flagged') }, ` ⚑ ${t('booking.flagged_short')}`) : null),
      h('td', null, name(booking.provider), name(booking.unit) ? [h('br'), h('small', { class: 'unit' }, name(booking.unit))] : null),
      h('td', null,
        h('time', { datetime: booking.start }, gregorian(booking.start, tz, { weekday: false }), hospital ? ` ${clock(booking.start, tz)}` : ''),
        h('br'),
        h('small', { class: 'hijri' }, hijri(booking.start, tz))),
      h('td', null, booking.contact.name),
      h('td', null, badge(booking.status)),
      h('td', { class: 'num' }, money(booking.price.total, booking.price.currency)));
    if (actions) tr.append(h('td', null, actions(booking, (fresh) => tr.replaceWith(row(fresh)))));
    return tr;
  }

  async function page() {
    const answer = await api.get('/v1/bookings', { ...query, cursor });
    for (const booking of answer.bookings) body.append(row(booking));
    cursor = answer.next_cursor;
    more.hidden = !cursor;
    if (!body.children.length) replace(status, h('p', { class: 'muted' }, empty ?? t('list.empty')));
    else replace(status);
  }

  more.addEventListener('click', () => busy(more, () => page().catch((error) => replace(status, failure(error)))));

  return {
    element: wrapper,
    async load() {
      replace(status, loading());
      body.replaceChildren();
      cursor = null;
      try {
        await page();
        table.hidden = !body.children.length;
      } catch (error) {
        table.hidden = true;
        replace(status, failure(error, () => this.load()));
      }
    },
  };
}

export function renderMyBookings(container, { api }) {
  const list = bookingTable({
    api, query: {}, href: (b) => `#/booking/${b.id}`,
    caption: t('nav.bookings'), empty: t('list.empty_mine'),
  });
  replace(container,
    h('h1', null, t('nav.bookings')),
    h('p', null, h('a', { href: '#/search' }, t('list.book_more'))),
    list.element,
    // Leaving declines an offer's hold: the list above shows it cancelled.
    myWaitlist({ api, onChange: () => list.load() }));
  focusHeading(container);
  list.load();
}
