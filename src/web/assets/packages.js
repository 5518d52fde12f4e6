// Medical-travel packages (#16, point 1): beside a hospital search, its slots "with a hotel
// nearby" (GET /v1/search/packages), holding one for the patient (the customer, or the
// client on the agent console), and a package's own page: both parts, one price, one
// payment, and cancelling both.
import { h, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce, focusHeading, badge, confirmDialog } from './dom.js';
import { t, problemText } from './i18n.js';
import { when, priceTable, name, money, gregorian } from './format.js';
import { Attempt } from './api.js';
import { patientDialog } from './search-dialogs.js';
import { cardFields, readCard, CARD_FIELDS } from './card.js';

// The API's paths of a package's patient, to the dialog's inputs.
const PATIENT_FIELDS = {
  'appointment.patient': 'full_name',
  'appointment.patient.full_name': 'full_name',
  'appointment.patient.birth_date': 'birth_date',
  'appointment.patient.id_type': 'id_type',
  'appointment.patient.id_number': 'id_number',
  'appointment.patient.passport_country': 'passport_country',
};

/**
 * The "with a hotel nearby" section under a hospital search's results: asked for on demand
 * (a package search is a hotel search per slot). `onHeld(package)` follows a hold;
 * `beforeBook()` may refuse (not logged in); `customerId` books for a client.
 */
export function packageOffers({ api, query, customerId, beforeBook, onHeld }) {
  const list = h('div', { class: 'package-list', 'aria-live': 'polite' });
  const show = h('button', { type: 'button', class: 'secondary' }, t('package.show'));
  show.addEventListener('click', () => load());
  const section = h('section', { class: 'packages card-panel', 'aria-labelledby': 'packages-title' },
    h('h2', { id: 'packages-title' }, t('package.title')),
    h('p', { class: 'muted' }, t('package.intro')),
    h('div', { class: 'actions' }, show),
    list);

  async function load() {
    replace(list, loading());
    try {
      const asked = { city: query.city, from: query.from, to: query.to, guests: 1 };
      if (query.specialty) asked.specialty = query.specialty;
      const answer = await busy(show, () => api.get('/v1/search/packages', asked));
      const found = answer.packages ?? [];
      announce(found.length ? t('package.found', { count: found.length }) : t('package.none'));
      replace(list, found.length
        ? h('ul', { class: 'offers packages' }, found.map((offer, i) => h('li', null, packageCard(offer, i))))
        : h('p', { class: 'summary' }, t('package.none')));
    } catch (error) {
      replace(list, failure(error, load));
    }
  }

  function packageCard(offer, i) {
    const { appointment, stay } = offer;
    const id = `package-${i}`;
    const alert = h('div', { class: 'alert error', role: 'alert', hidden: true });
    const button = h('button', { type: 'button', class: 'book', 'aria-describedby': id }, t('package.book'));
    const attempt = new Attempt();
    button.addEventListener('click', () => hold(offer, { button, alert, attempt }));
    return h('article', { class: 'offer package', 'aria-labelledby': id },
      h('h3', { id }, name(appointment.provider), ' + ', name(stay.provider)),
      h('p', { class: 'unit' }, name(appointment.unit), ' — ', when(appointment.start, appointment.provider.timezone, { time: true })),
      h('p', { class: 'stay' }, t('package.stay', {
        hotel: name(stay.provider), nights: offer.nights,
        from: gregorian(offer.check_in, 'UTC', { weekday: false }), to: gregorian(offer.check_out, 'UTC', { weekday: false }),
      })),
      priceTable(offer.price, offer),
      h('p', { class: 'muted' }, t('package.one_fee')),
      alert,
      h('div', { class: 'actions' }, button));
  }

  function hold(offer, { button, alert, attempt }) {
    alert.hidden = true;
    if (beforeBook && !beforeBook()) return;
    patientDialog(offer.appointment, { staff: Boolean(customerId) }, (patient, dialogButton, formEl, dialog) => busy(dialogButton, async () => {
      const body = { appointment: { offer_id: offer.appointment.offer_id, patient }, stay: { offer_id: offer.stay.offer_id } };
      if (customerId) body.customer_id = customerId;
      try {
        const held = await api.post('/v1/packages', body, attempt);
        dialog.close();
        announce(t('package.held', { reference: held.reference }));
        onHeld(held);
      } catch (error) {
        if ((error.fieldErrors ?? []).some((e) => e.field.startsWith('appointment.patient'))) {
          showProblem(formEl, error, PATIENT_FIELDS);
          return;
        }
        dialog.close();
        replace(alert, h('p', null, problemText(error)));
        alert.hidden = false;
        button.focus();
      }
    }));
  }

  return section;
}

/** A package's page: its two parts, its price, its payment (while held) and cancelling it. */
export function renderPackage(container, { api, id, signal, staff = false, onAction }) {
  const payAttempt = new Attempt();

  async function load(notice) {
    replace(container, loading());
    try {
      const found = await api.get(`/v1/packages/${encodeURIComponent(id)}`);
      if (signal?.aborted) return;
      draw(found, notice);
      focusHeading(container);
    } catch (error) {
      if (!signal?.aborted) replace(container, failure(error, () => load(notice)));
    }
  }

  function part(kind, booking) {
    if (!booking) return null;
    const tz = booking.provider.timezone;
    const dates = kind === 'stay'
      ? t('package.nights_from_to', {
        from: gregorian(booking.start, tz, { weekday: false }), to: gregorian(booking.end, tz, { weekday: false }),
      })
      : when(booking.start, tz, { time: true });
    return h('li', { class: `package-part ${kind}` },
      h('h3', null, t(`package.part.${kind}`), ' ', badge(booking.status)),
      h('p', null, name(booking.provider), ' — ', name(booking.unit)),
      h('p', null, dates),
      h('p', { class: 'muted' }, t('package.booking_ref', { reference: booking.reference })));
  }

  function draw(found, notice) {
    replace(container,
      h('h1', null, t('package.page_title', { reference: found.reference })),
      notice ? h('p', { class: `alert ${notice.kind}`, role: 'status' }, notice.text) : null,
      h('p', null, badge(found.status)),
      found.flagged_at ? h('p', { class: 'alert warning', role: 'status' }, t('package.flagged')) : null,
      h('ul', { class: 'package-parts' }, part('appointment', found.appointment), part('stay', found.stay)),
      priceTable(found.price, found),
      h('p', { class: 'muted' }, t('package.one_fee')),
      found.status === 'held' ? payForm(found) : null,
      found.payment?.status === 'succeeded'
        ? h('p', null, t('package.paid', { amount: money(found.payment.amount, found.payment.currency) }))
        : null,
      ['held', 'pending', 'confirmed', 'partly_cancelled'].includes(found.status) ? cancelButton(found) : null);
  }

  function payForm(found) {
    const submit = h('button', { type: 'submit' }, t('pay.submit_amount', { amount: money(found.due_now, 'SAR') }));
    return form({ class: 'pay', 'aria-labelledby': 'package-pay-title' }, [
      h('h2', { id: 'package-pay-title' }, t('package.pay_title')),
      h('p', { class: 'muted' }, t(staff ? 'pay.note_staff' : 'pay.note')),
      cardFields(),
      h('div', { class: 'actions paybar' }, submit),
    ], async (data, formEl) => {
      clearErrors(formEl);
      const { card, errors } = readCard(data);
      if (errors) { showErrors(formEl, errors); return; }
      await busy(submit, async () => {
        try {
          const result = await api.post(`/v1/packages/${found.id}/pay`, { card }, payAttempt);
          if (result.payment?.status === 'requires_action' && result.payment.action_url && onAction) {
            onAction(result.payment, result.package, (next) => load(next));
            return;
          }
          const text = t('pay.done_amount', { amount: money(result.payment?.amount ?? found.due_now, 'SAR') });
          announce(text);
          draw(result.package, { kind: 'success', text });
          focusHeading(container);
        } catch (error) {
          if (error.code === 'booking.invalid_state') { load({ kind: 'error', text: problemText(error) }); return; }
          showProblem(formEl, error, CARD_FIELDS);
        }
      });
    });
  }

  function cancelButton(found) {
    const button = h('button', { type: 'button', class: 'danger' }, t('package.cancel'));
    button.addEventListener('click', async () => {
      const yes = await confirmDialog({
        title: t('package.cancel'), text: t('package.cancel_text'), confirm: t('package.cancel'), cancel: t('plans.keep'),
      });
      if (!yes) return;
      await busy(button, async () => {
        try {
          const cancelled = await api.post(`/v1/packages/${found.id}/cancel`, {});
          draw(cancelled, { kind: 'success', text: t('package.cancelled') });
        } catch (error) {
          draw(found, { kind: 'error', text: problemText(error) });
        }
      });
    });
    return h('div', { class: 'actions' }, button);
  }

  load();
}
