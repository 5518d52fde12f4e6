// The agent console's view of a booking's client links (#16 points 3 and 4): send the
// consent link or a pay link to the client on the phone, and watch each one's state
// (sent, opened, approved, declined, paid, expired). It polls `GET /v1/bookings/{id}/client-links`
// every 3 seconds while the booking is open, says a change aloud, and reloads the booking
// once the client has answered or paid.
import { Attempt } from './api.js';
import { h, replace, busy, announce } from './dom.js';
import { t, problemText } from './i18n.js';
import { gregorian } from './format.js';

const POLL_MS = 3000;

export function renderClientLinks(slot, { api, id, signal, onSettled }) {
  const attempts = { consent: new Attempt(), 'pay-link': new Attempt() };
  let last = null;
  let notice = null;

  const line = (kind, link, action, live) => {
    const state = link?.state ?? 'none';
    const send = h('button', { type: 'button', class: 'secondary small' },
      t(link ? `links.agent.resend_${kind}` : `links.agent.send_${kind}`));
    send.addEventListener('click', () => busy(send, async () => {
      try {
        await api.post(`/v1/bookings/${id}/${action}`, {}, attempts[action]);
        notice = { kind: 'success', text: t(`links.agent.sent_${kind}`) };
        announce(notice.text);
      } catch (error) {
        notice = { kind: 'error', text: problemText(error) };
      }
      await refresh();
    }));
    return h('li', { class: 'link-line' },
      h('span', { class: 'link-kind' }, t(`links.agent.${kind}`)),
      h('span', { class: `badge link-${state}`, dataset: { linkState: state } }, t(`links.agent.state.${state}`)),
      link?.opened_at ? h('span', { class: 'muted' }, t('links.agent.opened_at', { at: gregorian(link.opened_at, 'Asia/Riyadh', { time: true, weekday: false }) })) : null,
      live ? send : null);
  };

  const draw = (links) => {
    const held = links.status === 'held';
    replace(slot, h('section', { class: 'client-links', 'aria-labelledby': 'client-links-title' },
      h('h2', { id: 'client-links-title' }, t('links.agent.title')),
      notice ? h('p', { class: `alert ${notice.kind}`, role: 'status' }, notice.text) : null,
      h('ul', { class: 'link-lines' },
        line('consent', links.consent, 'consent', held && !['approved', 'declined'].includes(links.consent?.state)),
        line('pay', links.pay_link, 'pay-link', held)),
      h('p', { class: 'muted' }, t('links.agent.live'))));
    slot.hidden = false;
  };

  async function refresh() {
    if (signal.aborted) return;
    try {
      const links = await api.get(`/v1/bookings/${id}/client-links`);
      if (signal.aborted) return;
      const now = { consent: links.consent?.state, pay: links.pay_link?.state };
      if (last && (last.consent !== now.consent || last.pay !== now.pay)) {
        announce(t('links.agent.changed'));
        // The client answered or paid just now: the booking page shows its new history and status.
        const answered = last.consent !== now.consent && ['approved', 'declined'].includes(now.consent);
        const paid = last.pay !== now.pay && now.pay === 'paid';
        if (answered || paid) onSettled?.();
      }
      last = now;
      draw(links);
    } catch {
      // The booking page says what is wrong; keep polling.
    }
  }

  slot.hidden = true;
  replace(slot);
  refresh();
  const timer = setInterval(refresh, POLL_MS);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    replace(slot);
    slot.hidden = true;
  });
}
