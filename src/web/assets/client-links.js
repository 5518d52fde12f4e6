// A phone client's links (#16 points 3 and 4), no login needed (the token is the key):
// `#/consent/<token>` shows what an agent booked for them, to approve or decline;
// `#/pay/<token>` takes their card for the held booking, a 3-D Secure step coming back here
// (`/?payment=…&status=…#/pay/<token>`). The card goes from this page to us, never through
// the agent.
import { h, replace, form, busy, loading, failure, focusHeading, announce, clearErrors, showErrors, showProblem, confirmDialog } from './dom.js';
import { t, lang, problemText } from './i18n.js';
import { ApiError } from './api.js';
import { money, when } from './format.js';
import { cardFields, readCard, CARD_FIELDS } from './card.js';

/** One language's name, else the other's. */
function either(ar, en) {
  return (lang() === 'ar' ? ar || en : en || ar) ?? '';
}

function row(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

/** What was booked: where, when, how much, until when the link works. Nothing else. */
function summary(booking) {
  const hotel = booking.provider_kind === 'hotel';
  return h('dl', { class: 'link-summary' },
    row(t('links.reference'), h('bdi', { dir: 'ltr' }, booking.reference)),
    row(t('links.provider'), either(booking.provider_name_ar, booking.provider_name_en)),
    row(t('links.booked'), either(booking.unit_name_ar, booking.unit_name_en)),
    row(t(hotel ? 'links.check_in' : 'links.appointment'), when(booking.start, booking.timezone, { time: !hotel })),
    hotel ? row(t('links.check_out'), when(booking.end, booking.timezone)) : null,
    row(t('links.total'), h('strong', null, money(booking.total, booking.currency))),
    booking.hold_expires_at ? row(t('links.until'), when(booking.hold_expires_at, booking.timezone, { time: true })) : null);
}

/** A link that can no longer be used says why. */
function stateNote(state) {
  const kind = { approved: 'success', paid: 'success', declined: 'info' }[state] ?? 'warning';
  return h('p', { class: `alert ${kind}`, role: 'status' }, t(`links.state_note.${state}`));
}

async function load(main, path, signal, draw) {
  replace(main, loading());
  try {
    const page = await fetchPage(path);
    if (!signal?.aborted) draw(page);
  } catch (error) {
    if (!signal?.aborted) replace(main, failure(error, () => load(main, path, signal, draw)));
  }
}

/** Read without the site's session: the link is the client's, whoever is signed in here. */
async function fetchPage(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'omit' });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(body?.code ? body : { status: response.status, code: 'resource.not_found', detail: '' });
  return body;
}

async function postLink(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    credentials: 'omit',
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(answer?.code ? answer : { status: response.status, code: 'internal', detail: '' });
  return answer;
}

export function renderConsent(main, { token, signal }) {
  const path = `/v1/consents/${encodeURIComponent(token ?? '')}`;
  const draw = (page, notice) => {
    const open = page.state === 'opened' || page.state === 'sent';
    const approve = h('button', { type: 'button' }, t('links.approve'));
    const decline = h('button', { type: 'button', class: 'secondary' }, t('links.decline'));
    const decide = (button, decision) => busy(button, async () => {
      try {
        const answer = await postLink(`${path}/${decision}`);
        const text = t(`links.state_note.${answer.state}`);
        announce(text);
        draw(answer);
      } catch (error) {
        draw(page, { kind: 'error', text: problemText(error) });
      }
    });
    approve.addEventListener('click', () => decide(approve, 'approve'));
    decline.addEventListener('click', async () => {
      const sure = await confirmDialog({
        title: t('links.decline'), text: t('links.decline_text'), confirm: t('links.decline'), cancel: t('links.keep'),
      });
      if (sure) decide(decline, 'decline');
    });
    replace(main, h('section', { class: 'client-link', 'aria-labelledby': 'link-title' },
      h('h1', { id: 'link-title' }, t('links.consent_title')),
      notice ? h('p', { class: `alert ${notice.kind}`, role: 'alert' }, notice.text) : null,
      h('p', null, t('links.consent_intro')),
      summary(page.booking),
      open ? h('div', { class: 'actions' }, approve, decline) : stateNote(page.state)));
    focusHeading(main);
  };
  load(main, path, signal, draw);
}

export function renderPayLink(main, { token, signal }) {
  const path = `/v1/pay-links/${encodeURIComponent(token ?? '')}`;
  // Back from the bank's 3-D Secure page: say how it went, once, and leave a clean address.
  const query = new URLSearchParams(location.search);
  let returned = null;
  if (query.get('payment')) {
    const ok = query.get('status') === 'succeeded';
    returned = { kind: ok ? 'success' : 'error', text: t(ok ? 'pay.3ds_ok' : 'pay.3ds_failed') };
    history.replaceState(null, '', location.pathname + location.hash);
  }
  const draw = (page, notice = returned) => {
    returned = null;
    const open = page.state === 'opened' || page.state === 'sent';
    const lines = h('table', { class: 'lines' },
      h('caption', { class: 'visually-hidden' }, t('links.lines')),
      h('tbody', null,
        page.lines.map((line) => h('tr', null,
          h('th', { scope: 'row' }, lang() === 'ar' ? line.label_ar : line.label_en),
          h('td', null, money((Number(line.net) + Number(line.vat)).toFixed(2), page.currency)))),
        h('tr', { class: 'total' }, h('th', { scope: 'row' }, t('links.total')), h('td', null, money(page.total, page.currency)))));
    let body;
    if (!open) body = stateNote(page.state);
    else if (page.consent_pending) body = h('p', { class: 'alert info', role: 'status' }, t('links.approve_first'));
    else body = payForm(page);
    replace(main, h('section', { class: 'client-link', 'aria-labelledby': 'link-title' },
      h('h1', { id: 'link-title' }, t('links.pay_title')),
      notice ? h('p', { class: `alert ${notice.kind}`, role: notice.kind === 'error' ? 'alert' : 'status' }, notice.text) : null,
      summary(page.booking),
      lines,
      body));
    focusHeading(main);
  };
  const payForm = (page) => {
    const submit = h('button', { type: 'submit' }, t('pay.submit_amount', { amount: money(page.total, page.currency) }));
    return form({ class: 'pay', 'aria-labelledby': 'pay-title' }, [
      h('h2', { id: 'pay-title' }, t('pay.title')),
      h('p', { class: 'muted' }, t('links.pay_note')),
      cardFields(),
      h('div', { class: 'actions' }, submit),
    ], async (data, formEl) => {
      clearErrors(formEl);
      const { card, errors } = readCard(data);
      if (errors) { showErrors(formEl, errors); return; }
      await busy(submit, async () => {
        try {
          const result = await postLink(`${path}/pay`, { card });
          if (result.payment?.status === 'requires_action' && result.payment.action_url) {
            location.assign(result.payment.action_url);
            return;
          }
          announce(t('links.state_note.paid'));
          load(main, path, signal, (fresh) => draw(fresh, { kind: 'success', text: t('links.state_note.paid') }));
        } catch (error) {
          if (error.code?.startsWith('link.')) { load(main, path, signal, (fresh) => draw(fresh, { kind: 'error', text: problemText(error) })); return; }
          showProblem(formEl, error, CARD_FIELDS);
        }
      });
    });
  };
  load(main, path, signal, draw);
}
