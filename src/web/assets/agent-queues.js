// The console's work lists: today's bookings, those waiting on a provider, failed ones and
// those a provider left unanswered (flagged), with a retry for the waiting ones.
import { h, replace, busy, announce, focusHeading } from './dom.js';
import { t, problemText } from './i18n.js';
import { isoDay, gregorian, isolate } from './format.js';
import { bookingTable } from './bookings.js';

// `from`/`to` are office days (Asia/Riyadh), like the API's.
const QUERIES = {
  today: () => ({ from: isoDay(), to: isoDay() }),
  pending: () => ({ status: 'pending' }),
  failed: () => ({ status: 'failed' }),
  flagged: () => ({ flagged: 'true' }),
};

export const QUEUES = Object.keys(QUERIES);

// A queue longer than a page shows "100+": the count is a nudge, not a report.
const COUNT_LIMIT = 100;

/** How many bookings wait in `which`, as shown beside its link ("3", "100+"). */
export async function queueCount(api, which) {
  const { bookings, next_cursor: more } = await api.get('/v1/bookings', { ...QUERIES[which](), limit: COUNT_LIMIT });
  return more ? `${COUNT_LIMIT}+` : String(bookings.length);
}

export function renderQueue(container, { api, which }) {
  const message = h('div', { role: 'status' });
  const list = bookingTable({
    api,
    query: QUERIES[which](),
    href: (booking) => `#/booking/${booking.id}`,
    caption: t(`queue.${which}`),
    empty: t(`queue.empty.${which}`),
    actions(booking, replaceRow) {
      if (booking.status !== 'pending') return null;
      const retry = h('button', { type: 'button', class: 'secondary small' }, t('queue.retry'));
      retry.addEventListener('click', () => busy(retry, async () => {
        try {
          const fresh = await api.post(`/v1/bookings/${booking.id}/retry-confirmation`);
          const text = t('queue.retried', { reference: fresh.reference });
          replace(message, h('p', { class: 'alert info' }, text));
          announce(text);
          replaceRow(fresh);
        } catch (error) {
          replace(message, h('p', { class: 'alert error', role: 'alert' }, `${booking.reference}: ${problemText(error)}`));
        }
      }));
      return retry;
    },
  });
  const refresh = h('button', { type: 'button', class: 'secondary' }, t('queue.refresh'));
  refresh.addEventListener('click', () => busy(refresh, () => list.load()));
  replace(container,
    h('div', { class: 'view-head' }, h('h1', null, t(`queue.${which}`)), refresh),
    // The day as words, held in its own direction: an ISO date inside Arabic reads reversed.
    h('p', { class: 'muted' }, t(`queue.about.${which}`, { day: isolate(gregorian(`${isoDay()}T12:00:00+03:00`, 'Asia/Riyadh')) })),
    message,
    list.element);
  focusHeading(container);
  list.load();
}
