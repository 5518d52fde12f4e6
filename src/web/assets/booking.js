// One booking: its terms, the hold's countdown and the card payment while held, the wait
// for the provider, cancelling (with the refund shown first) and its history.
// Shared by the customer site and the agent console (`staff`).
import { h, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce, focusHeading, badge, confirmDialog } from './dom.js';
import { t, problemText } from './i18n.js';
import { when, priceTable, name, money, percent, remaining, clock } from './format.js';
import { Attempt } from './api.js';
import { cardFields, readCard, CARD_FIELDS } from './card.js';

const POLL_MS = 2000;

// The reasons the server writes itself (free text, in English); anything else, such as
// a customer's own words when cancelling, is shown as written.
const REASONS = {
  paid: 'reason.paid',
  'confirmed by the provider': 'reason.provider_confirmed',
  'confirmed by staff': 'reason.staff_confirmed',
  'hold expired': 'reason.hold_expired',
  'stay or appointment is over': 'reason.over',
};

function reasonText(reason) {
  if (REASONS[reason]) return t(REASONS[reason]);
  if (reason.startsWith('the provider did not confirm')) return t('reason.not_confirmed');
  return reason;
}
const LIVE = new Set(['held', 'pending', 'confirmed']);

/** A hospital booking's patient: name and date of birth, the kind of ID and its number. */
function patientFacts(patient) {
  if (!patient) return [];
  const idType = t(`patient.id_type.${patient.id_type}`);
  return [
    h('dt', null, t('booking.patient')),
    h('dd', { class: 'patient' }, patient.full_name, ' · ', h('span', { dir: 'ltr' }, patient.birth_date)),
    h('dt', null, t('booking.patient_id', { type: idType })),
    h('dd', null, h('span', { dir: 'ltr' }, patient.id_number, patient.passport_country ? ` (${patient.passport_country})` : '')),
  ];
}

/**
 * `onAction(payment, booking)` takes over when the card needs a 3-D Secure step.
 * `notice` is a message to show on top (e.g. the result of that step).
 */
export function renderBooking(container, options) {
  const { api, id, signal } = options;
  const payAttempt = new Attempt();
  let timer = null;
  signal?.addEventListener('abort', () => clearTimeout(timer));

  async function load(notice) {
    replace(container, loading());
    try {
      const booking = await api.get(`/v1/bookings/${encodeURIComponent(id)}`);
      if (signal?.aborted) return;
      draw(booking, notice);
      focusHeading(container);
    } catch (error) {
      if (!signal?.aborted) replace(container, failure(error, () => load(notice)));
    }
  }

  /** Re-reads the booking while it waits on someone else (the provider, the hold's end). */
  function watch(booking) {
    clearTimeout(timer);
    if (signal?.aborted) return;
    const waiting = booking.status === 'pending' || booking.status === 'held';
    if (!waiting) return;
    timer = setTimeout(async () => {
      try {
        const fresh = await api.get(`/v1/bookings/${encodeURIComponent(booking.id)}`);
        if (signal?.aborted) return;
        if (fresh.status !== booking.status) {
          announce(t('booking.now', { status: t(`status.${fresh.status}`) }));
          draw(fresh);
        } else {
          watch(fresh);
        }
      } catch {
        watch(booking);
      }
    }, booking.status === 'held' ? POLL_MS * 5 : POLL_MS);
  }

  function draw(booking, notice) {
    const tz = booking.provider.timezone;
    const hotel = booking.provider.kind === 'hotel';
    const facts = [
      h('dt', null, t('booking.provider')), h('dd', null, name(booking.provider)),
      ...(name(booking.unit) ? [h('dt', null, t(hotel ? 'booking.room' : 'booking.service')), h('dd', { class: 'unit' }, name(booking.unit))] : []),
      ...(hotel
        ? [h('dt', null, t('offer.check_in')), h('dd', null, when(booking.start, tz)),
          h('dt', null, t('offer.check_out')), h('dd', null, when(booking.end, tz)),
          h('dt', null, t('offer.guests')), h('dd', null, t('offer.guests_rooms', { guests: booking.guests ?? '', rooms: booking.quantity }))]
        : [h('dt', null, t('offer.appointment')), h('dd', null, when(booking.start, tz, { time: true })),
          h('dt', null, t('offer.until')), h('dd', null, clock(booking.end, tz))]),
      h('dt', null, t('booking.contact')), h('dd', null, booking.contact.name, booking.contact.phone ? [' · ', h('span', { dir: 'ltr' }, booking.contact.phone)] : null),
      ...patientFacts(booking.patient),
      h('dt', null, t('booking.channel')), h('dd', null, t(`channel.${booking.channel}`)),
      h('dt', null, t('booking.created')), h('dd', null, when(booking.created_at, tz, { time: true })),
    ];
    if (booking.refund_amount) facts.push(h('dt', null, t('booking.refund')), h('dd', null, money(booking.refund_amount)));
    if (booking.flagged_at) facts.push(h('dt', null, t('booking.flagged')), h('dd', null, when(booking.flagged_at, tz, { time: true })));

    replace(container,
      h('div', { class: 'booking-head' },
        h('h1', null, t('booking.title'), ' ', h('span', { class: 'reference', dir: 'ltr' }, booking.reference)),
        badge(booking.status)),
      notice ? h('div', { class: `alert ${notice.kind ?? 'info'}`, role: notice.kind === 'error' ? 'alert' : 'status' }, notice.text) : null,
      h('div', { class: 'columns' },
        h('section', { class: 'card-panel', 'aria-labelledby': 'summary-title' },
          h('h2', { id: 'summary-title' }, t('booking.summary')),
          h('dl', { class: 'facts' }, facts),
          h('h3', null, t('price.title')),
          priceTable(booking.price)),
        h('section', { class: 'card-panel', 'aria-labelledby': 'next-title' },
          h('h2', { id: 'next-title' }, t('booking.next')),
          nextStep(booking))),
      history(booking));
    watch(booking);
  }

  function nextStep(booking) {
    const parts = [];
    switch (booking.status) {
      case 'held':
        parts.push(countdown(booking), payForm(booking));
        if (options.staff) parts.push(confirmAtOffice(booking));
        break;
      case 'pending':
        parts.push(h('p', { class: 'alert info', role: 'status' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }),
          t('booking.awaiting', { provider: name(booking.provider) })));
        if (options.staff) parts.push(retryButton(booking));
        break;
      case 'confirmed':
        parts.push(h('p', { class: 'alert success', role: 'status' }, t('booking.confirmed_text', { provider: name(booking.provider) })));
        break;
      default:
        parts.push(h('p', { class: 'muted' }, t(`booking.final.${booking.status}`)));
    }
    if (LIVE.has(booking.status)) {
      parts.push(h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onclick: () => cancelDialog(booking) }, t('cancel.open'))));
    }
    return parts;
  }

  function countdown(booking) {
    if (!booking.hold_expires_at) return null;
    const value = h('strong', { class: 'countdown', dir: 'ltr' }, remaining(booking.hold_expires_at));
    // role=timer is not announced on every tick; the minute marks are announced instead.
    const box = h('p', { class: 'hold', role: 'timer', 'aria-live': 'off' }, t('booking.hold_left'), ' ', value);
    let lastMinute = null;
    const tick = () => {
      if (signal?.aborted || !box.isConnected && lastMinute !== null) return;
      const left = new Date(booking.hold_expires_at).getTime() - Date.now();
      value.textContent = remaining(booking.hold_expires_at);
      const minute = Math.ceil(left / 60000);
      if (minute !== lastMinute && minute <= 5 && minute > 0) announce(t('booking.hold_minutes', { minutes: minute }));
      lastMinute = minute;
      if (left <= 0) {
        box.classList.add('expired');
        box.textContent = t('booking.hold_over');
        setTimeout(() => !signal?.aborted && load(), POLL_MS);
        return;
      }
      setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    tick();
    return box;
  }

  function payForm(booking) {
    // `due_now` is what the card is charged: our fee and VAT, plus the provider's price
    // when the provider is prepaid (otherwise the guest pays that at the provider).
    const submit = h('button', { type: 'submit' },
      booking.due_now ? t('pay.submit_amount', { amount: money(booking.due_now, 'SAR') }) : t('pay.submit'));
    return form({ class: 'pay', 'aria-labelledby': 'pay-title' }, [
      h('h3', { id: 'pay-title' }, t('pay.title')),
      h('p', { class: 'muted' }, t(options.staff ? 'pay.note_staff' : 'pay.note')),
      cardFields(),
      h('div', { class: 'actions' }, submit),
    ], async (data, formEl) => {
      clearErrors(formEl);
      const { card, errors } = readCard(data);
      if (errors) { showErrors(formEl, errors); return; }
      await busy(submit, async () => {
        try {
          const result = await api.post(`/v1/bookings/${booking.id}/pay`, { card }, payAttempt);
          if (result.payment?.status === 'requires_action' && result.payment.action_url) {
            options.onAction(result.payment, result.booking, (notice) => load(notice));
            return;
          }
          const text = result.payment
            ? t('pay.done_amount', { amount: money(result.payment.amount, result.payment.currency) })
            : t('pay.done');
          announce(text);
          draw(result.booking, { kind: 'success', text });
        } catch (error) {
          if (error.code === 'booking.invalid_state') { load({ kind: 'error', text: problemText(error) }); return; }
          showProblem(formEl, error, CARD_FIELDS);
        }
      });
    });
  }

  /** Staff: the client pays at the office, so the booking goes on without a card. */
  function confirmAtOffice(booking) {
    const button = h('button', { type: 'button', class: 'secondary' }, t('pay.at_office'));
    button.addEventListener('click', async () => {
      const reason = await confirmDialog({
        title: t('pay.at_office'), text: t('pay.at_office_text'), confirm: t('pay.at_office'), cancel: t('plans.keep'),
        reasonLabel: t('pay.at_office_reason'),
      });
      if (!reason) return;
      await busy(button, async () => {
        try {
          draw(await api.post(`/v1/bookings/${booking.id}/confirm`, { reason }), { kind: 'success', text: t('pay.at_office_done') });
        } catch (error) {
          draw(booking, { kind: 'error', text: problemText(error) });
        }
      });
    });
    return h('div', { class: 'actions at-office' }, button);
  }

  function retryButton(booking) {
    const button = h('button', { type: 'button', class: 'secondary' }, t('queue.retry'));
    button.addEventListener('click', () => busy(button, async () => {
      try {
        const fresh = await api.post(`/v1/bookings/${booking.id}/retry-confirmation`);
        draw(fresh, { kind: 'info', text: t('queue.retried', { reference: fresh.reference }) });
      } catch (error) {
        draw(booking, { kind: 'error', text: problemText(error) });
      }
    }));
    return button;
  }

  function cancelDialog(booking) {
    const body = h('div', { class: 'dialog-body' }, loading());
    const title = h('h2', { id: 'cancel-title' }, t('cancel.title', { reference: booking.reference }));
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'cancel-title' }, title, body);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    const keep = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('cancel.keep'));

    (async () => {
      try {
        const quote = await api.get(`/v1/bookings/${booking.id}/cancellation`);
        if (!quote.allowed) {
          replace(body, h('p', null, t('cancel.not_allowed')), h('div', { class: 'actions' }, keep));
          keep.focus();
          return;
        }
        const paidNothing = Number(quote.paid) === 0;
        const confirm = h('button', { type: 'submit', class: 'danger' }, t('cancel.confirm'));
        const reason = h('textarea', { id: 'cancel-reason', name: 'reason', rows: '2', maxlength: '500' });
        const cancelForm = form({ class: 'cancel' }, [
          h('p', { class: 'refund' }, paidNothing
            ? t('cancel.nothing_paid')
            : Number(quote.refund_amount) > 0
              ? t('cancel.refund', { refund: money(quote.refund_amount, quote.currency), percent: percent(quote.refund_percent), paid: money(quote.paid, quote.currency) })
              : t('cancel.no_refund', { paid: money(quote.paid, quote.currency) })),
          h('div', { class: 'field' }, h('label', { for: 'cancel-reason' }, t('cancel.reason')), reason),
          h('div', { class: 'actions' }, confirm, keep),
        ], async (data, formEl) => {
          clearErrors(formEl);
          await busy(confirm, async () => {
            try {
              const reasonText = String(data.get('reason') ?? '').trim();
              const cancelled = await api.post(`/v1/bookings/${booking.id}/cancel`, reasonText ? { reason: reasonText } : {});
              dialog.close();
              const refund = cancelled.refund_amount ?? quote.refund_amount;
              draw(cancelled, { kind: 'success', text: Number(refund) > 0 ? t('cancel.done_refund', { refund: money(refund) }) : t('cancel.done') });
              focusHeading(container);
            } catch (error) {
              showProblem(formEl, error);
            }
          });
        });
        replace(body, cancelForm);
        keep.focus();
      } catch (error) {
        replace(body, h('p', { role: 'alert' }, problemText(error)), h('div', { class: 'actions' }, keep));
        keep.focus();
      }
    })();
  }

  function history(booking) {
    const events = booking.events ?? [];
    if (!events.length) return null;
    const me = api.user?.id;
    const actor = (event) => {
      if (!event.actor_id) return t('actor.system');
      if (event.actor_id === me) return t('actor.you');
      if (event.actor_id === booking.created_by) return t('actor.agent');
      // Staff see who; customers see the role (an office agent, the provider).
      if (options.staff && event.actor_name) return event.actor_name;
      if (event.actor_role === 'agent' || event.actor_role === 'admin') return t('actor.agent');
      if (event.actor_role === 'provider') return t('actor.provider');
      return options.staff ? t('actor.user', { id: event.actor_id.slice(0, 8) }) : t('actor.office');
    };
    return h('section', { class: 'card-panel', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, t('booking.history')),
      h('ol', { class: 'timeline' }, events.map((event) => h('li', null,
        h('p', { class: 'event-head' },
          event.from_status ? [badge(event.from_status), h('span', { class: 'arrow', 'aria-hidden': 'true' }, ` ${t('booking.arrow')} `), h('span', { class: 'visually-hidden' }, t('booking.to'))] : null,
          badge(event.to_status)),
        h('p', { class: 'muted' }, h('strong', { class: 'actor' }, actor(event)), ' — ', when(event.at, booking.provider.timezone, { time: true, weekday: false })),
        event.reason ? h('p', { class: 'reason', dir: 'auto' }, reasonText(event.reason)) : null))));
  }

  load(options.notice);
}
