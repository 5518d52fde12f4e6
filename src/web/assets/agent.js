// The agent console: staff log in, serve the client on the phone, and work the queues.
import { createApi } from './api.js';
import { t, setLang, lang, applyStatic, declineText } from './i18n.js';
import { h, replace } from './dom.js';
import { renderLogin } from './auth.js';
import { renderBooking } from './booking.js';
import { renderClientDesk } from './agent-client.js';
import { renderQueue, queueCount, QUEUES } from './agent-queues.js';
import { renderPackage } from './packages.js';
// Client links (#16 points 3 and 4): the booking's consent and pay links, live.
import { renderClientLinks } from './agent-links.js';

const STAFF = new Set(['agent', 'admin']);
const POLL_MS = 2000;
const main = document.getElementById('main');
const userArea = document.getElementById('user-area');
const nav = document.getElementById('nav');

let controller = null;
let flash = null;

const api = createApi('wasit.agent.session', {
  onSessionEnd() {
    flash = { kind: 'info', text: t('auth.session_ended') };
    go('#/login');
  },
});

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function drawHeader(page) {
  nav.hidden = !api.user;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const user = api.user;
  replace(userArea, user
    ? [h('span', { class: 'hello' }, t('agent.signed_in', { name: user.full_name, role: t(`role.${user.role}`) })),
      h('button', { type: 'button', class: 'link', onclick: logout }, t('nav.logout'))]
    : null);
}

async function logout() {
  await api.logout();
  flash = { kind: 'info', text: t('auth.logged_out') };
  go('#/login');
}

function route() {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const [page = 'client', id] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const notice = flash;
  flash = null;
  if (!api.user && page !== 'login') {
    go('#/login');
    return;
  }
  drawHeader(page);
  countQueues();
  document.title = `${t('agent.title')} — ${t('brand')}`;
  if (page === 'login') {
    renderLogin(main, {
      api,
      heading: t('agent.login_title'),
      notice: notice?.text,
      async onDone(user) {
        if (STAFF.has(user.role)) {
          go('#/client');
          return;
        }
        // A customer's account cannot use the console; do not keep its session here.
        await api.logout();
        flash = { kind: 'error', text: t('agent.staff_only') };
        route();
      },
    });
  } else if (page === 'booking' && id) {
    renderBooking(main, { api, id, signal, staff: true, notice, onAction: verifyInPopup });
    renderClientLinks(document.getElementById('client-links'), { api, id, signal, onSettled: route });
  } else if (page === 'package' && id) {
    renderPackage(main, { api, id, signal, staff: true, onAction: (payment) => window.open(payment.action_url, 'wasit-3ds', 'popup,width=520,height=680') });
  } else if (QUEUES.includes(page)) {
    renderQueue(main, { api, which: page });
  } else {
    renderClientDesk(main, { api, signal, customerId: page === 'client' ? id : null, go });
  }
}

/**
 * A card that needs 3-D Secure: the bank's page opens in a window of its own (the client
 * completes it, or it is completed with them on the line) while the console waits for the
 * payment to settle.
 */
function verifyInPopup(payment, _booking, reload) {
  const popup = window.open(payment.action_url, 'wasit-3ds', 'popup,width=520,height=680');
  const link = h('a', { href: payment.action_url, target: 'wasit-3ds', rel: 'opener' }, t('agent.open_bank'));
  const waiting = h('div', { class: 'alert info', role: 'status' },
    h('p', null, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('agent.3ds_waiting')), popup ? null : link);
  // A payment for a hold takes the card form's place; one for a change's rise goes on top.
  const payForm = main.querySelector('form.pay');
  if (payForm) payForm.replaceWith(waiting);
  else main.querySelector('.booking-head')?.after(waiting);
  main.querySelector('.at-office')?.remove();
  const { signal } = controller;
  const poll = async () => {
    if (signal.aborted) return;
    try {
      const answer = await api.get(`/v1/payments/${payment.id}`);
      if (answer.payment.status !== 'requires_action' && answer.payment.status !== 'processing') {
        popup?.close();
        const ok = answer.payment.status === 'succeeded';
        const failure = answer.payment.failure_code ? ` ${declineText(answer.payment.failure_code)}` : '';
        reload({ kind: ok ? 'success' : 'error', text: ok ? t('pay.3ds_ok') : `${t('pay.3ds_failed')}${failure}` });
        return;
      }
    } catch {
      // Keep waiting: the payment is still there.
    }
    setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
}

document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(lang() === 'ar' ? 'en' : 'ar');
  applyStatic(document);
  route();
});

// Queue links are built here so the list of queues lives in one place; each carries how
// many bookings wait in it (the name in a span of its own, so a language switch keeps it).
const counts = new Map(QUEUES.map((queue) => [queue, h('span', { class: 'count', hidden: true })]));
replace(nav, h('ul', null,
  h('li', null, h('a', { href: '#/client', dataset: { nav: 'client', i18n: 'agent.nav.client' } }, t('agent.nav.client'))),
  QUEUES.map((queue) => h('li', null,
    h('a', { href: `#/${queue}`, dataset: { nav: queue } },
      h('span', { dataset: { i18n: `queue.${queue}` } }, t(`queue.${queue}`)), ' ', counts.get(queue))))));

/** The queues' counts, asked again on each page an agent opens. */
async function countQueues() {
  if (!api.user || !STAFF.has(api.user.role)) return;
  await Promise.all(QUEUES.map(async (queue) => {
    const slot = counts.get(queue);
    try {
      slot.textContent = await queueCount(api, queue);
      slot.hidden = false;
    } catch {
      slot.hidden = true;
    }
  }));
}
window.addEventListener('hashchange', route);
applyStatic(document);
route();
