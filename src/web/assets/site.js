// The customer site: a hash router over the views, the header with the banner of an
// unconfirmed email, the language toggle, and the return from the bank's 3-D Secure page
// (`?payment=<id>&status=<status>`).
import { createApi } from './api.js';
import { t, setLang, lang, applyStatic, declineText } from './i18n.js';
import { h, replace } from './dom.js';
import { renderLogin, renderSignup } from './auth.js';
import { renderForgot, renderReset, renderVerify, drawVerifyBanner } from './account.js';
import { renderSearch } from './search.js';
import { renderBooking } from './booking.js';
import { renderMyBookings } from './bookings.js';
import { renderInvoices } from './invoices.js';
import { renderPlans } from './plans.js';
import { renderPackage } from './packages.js';
// Client links (#16 points 3 and 4): consent and pay pages, no login.
import { renderConsent, renderPayLink } from './client-links.js';

const main = document.getElementById('main');
const userArea = document.getElementById('user-area');
const banner = document.getElementById('account-banner');
const THREE_DS_KEY = 'wasit.site.3ds';
const PAGES = new Set(['search', 'login', 'signup', 'bookings', 'booking', 'invoices', 'plans',
  'forgot', 'reset-password', 'verify-email', 'package',
  // Client links (#16 points 3 and 4).
  'consent', 'pay']);
const NEEDS_LOGIN = new Set(['bookings', 'booking', 'invoices', 'package']);

let controller = null;
let flash = null;
let afterLogin = null;

const api = createApi('wasit.site.session', {
  onSessionEnd() {
    flash = { kind: 'info', text: t('auth.session_ended') };
    afterLogin = location.hash;
    go('#/login');
  },
});

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    params: Object.fromEntries(new URLSearchParams(query ?? '')),
  };
}

function drawHeader(page) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    const current = link.dataset.nav === page || (page === 'booking' && link.dataset.nav === 'bookings');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const user = api.user;
  replace(userArea, user
    ? [h('span', { class: 'hello' }, t('nav.hello', { name: user.full_name })),
      h('button', { type: 'button', class: 'link', onclick: logout }, t('nav.logout'))]
    : [h('a', { href: '#/login' }, t('auth.login')), h('a', { href: '#/signup', class: 'button small' }, t('auth.signup'))]);
  drawVerifyBanner(banner, { api, onChange: () => drawHeader(page) });
}

async function logout() {
  await api.logout();
  flash = { kind: 'info', text: t('auth.logged_out') };
  go('#/search');
}

function loginFirst(message) {
  afterLogin = location.hash;
  flash = { kind: 'info', text: message };
  go('#/login');
}

function route() {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const { parts, params } = parseHash();
  const page = PAGES.has(parts[0]) ? parts[0] : 'search';
  drawHeader(page);
  if (NEEDS_LOGIN.has(page) && !api.user) {
    loginFirst(t('auth.login_needed'));
    return;
  }
  const notice = flash;
  flash = null;
  document.title = `${t(`title.${page}`)} — ${t('brand')}`;
  const done = () => {
    const target = afterLogin && !afterLogin.startsWith('#/login') && !afterLogin.startsWith('#/signup') ? afterLogin : '#/search';
    afterLogin = null;
    go(target);
  };
  switch (page) {
    case 'login':
      renderLogin(main, { api, onDone: done, signupHref: '#/signup', forgotHref: '#/forgot', notice: notice?.text });
      break;
    case 'forgot':
      renderForgot(main, { api, loginHref: '#/login' });
      break;
    case 'reset-password':
      renderReset(main, {
        api,
        token: params.token,
        forgotHref: '#/forgot',
        onDone() {
          // The new password ended every session, this tab's included.
          api.clear();
          flash = { kind: 'success', text: t('account.reset_done') };
          go('#/login');
        },
      });
      break;
    case 'verify-email':
      renderVerify(main, {
        api,
        token: params.token,
        onDone() {
          flash = { kind: 'success', text: t('account.verified') };
          go('#/search');
        },
        onResent: () => drawHeader(page),
      });
      break;
    case 'signup':
      renderSignup(main, { api, onDone: done, loginHref: '#/login' });
      break;
    case 'bookings':
      renderMyBookings(main, { api });
      break;
    case 'booking':
      renderBooking(main, { api, id: parts[1], signal, notice, onAction: goToBank });
      break;
    case 'invoices':
      renderInvoices(main, { api, signal });
      break;
    case 'package':
      renderPackage(main, { api, id: parts[1], signal, onAction: (payment) => location.assign(payment.action_url) });
      break;
    case 'plans':
      renderPlans(main, { api, signal, onLogin: () => loginFirst(t('auth.login_to_subscribe')) });
      break;
    // Client links (#16 points 3 and 4).
    case 'consent':
      renderConsent(main, { token: parts[1], signal });
      break;
    case 'pay':
      renderPayLink(main, { token: parts[1], signal });
      break;
    default:
      renderSearch(main, {
        api,
        params,
        signal,
        onSearch: (query) => go(`#/search?${new URLSearchParams(query)}`),
        beforeBook() {
          if (api.user) return true;
          loginFirst(t('auth.login_to_book'));
          return false;
        },
        onBooked: (booking) => go(`#/booking/${booking.id}`),
        onPackageHeld: (held) => go(`#/package/${held.id}`),
      });
      if (notice) main.prepend(h('p', { class: `alert ${notice.kind}`, role: 'status' }, notice.text));
  }
}

/** The bank's page takes over this tab; it comes back to `/?payment=…&status=…`. */
function goToBank(payment, booking) {
  sessionStorage.setItem(THREE_DS_KEY, booking.id);
  location.assign(payment.action_url);
}

async function paymentReturn() {
  const query = new URLSearchParams(location.search);
  const paymentId = query.get('payment');
  // A pay link's page reads its own return (client-links.js).
  if (!paymentId || location.hash.startsWith('#/pay/')) return false;
  // Leave a clean address, so a reload does not show the result twice.
  history.replaceState(null, '', location.pathname + location.hash);
  const bookingId = sessionStorage.getItem(THREE_DS_KEY);
  sessionStorage.removeItem(THREE_DS_KEY);
  const ok = query.get('status') === 'succeeded';
  let text = t(ok ? 'pay.3ds_ok' : 'pay.3ds_failed');
  if (!api.user) {
    afterLogin = bookingId ? `#/booking/${bookingId}` : '#/bookings';
    flash = { kind: ok ? 'success' : 'error', text: `${text} ${t('pay.login_to_see')}` };
    go('#/login');
    return true;
  }
  let target = bookingId;
  try {
    const { payment } = await api.get(`/v1/payments/${encodeURIComponent(paymentId)}`);
    target = payment.booking_id ?? target;
    if (!ok && payment.failure_code) text = `${text} ${declineText(payment.failure_code)}`;
  } catch {
    // The booking page still tells where things stand.
  }
  flash = { kind: ok ? 'success' : 'error', text };
  go(target ? `#/booking/${target}` : '#/bookings');
  return true;
}

document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(lang() === 'ar' ? 'en' : 'ar');
  applyStatic(document);
  route();
});

window.addEventListener('hashchange', route);
applyStatic(document);
if (!(await paymentReturn())) route();
