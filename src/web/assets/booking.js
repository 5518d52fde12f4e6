// One booking: its terms, the hold's countdown and the card payment while held, the wait
// for the provider, changing it (other dates, room type or service of the same provider),
// cancelling (with the refund shown first) and its history.
// Shared by the customer site and the agent console (`staff`).
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce, focusHeading, badge, confirmDialog } from './dom.js';
import { t, lang, problemText, declineText } from './i18n.js';
import { when, priceTable, name, money, percent, remaining, clock, gregorian, isoDay, changeLines, cancellationLine } from './format.js';
import { Attempt } from './api.js';
import { cardFields, readCard, CARD_FIELDS } from './card.js';
import { openPrint } from './invoices.js';
import { occupancyQuery, roomText } from './rooms.js';

const POLL_MS = 2000;

// The reasons the server writes itself (free text, in English); anything else, such as
// a customer's own words when cancelling, is shown as written.
const REASONS = {
  paid: 'reason.paid',
  'confirmed by the provider': 'reason.provider_confirmed',
  'confirmed by staff': 'reason.staff_confirmed',
  'hold expired': 'reason.hold_expired',
  'stay or appointment is over': 'reason.over',
  changed: 'reason.changed',
  // Client links (#16 point 3).
  'client approved': 'reason.client_approved',
  'client declined': 'reason.client_declined',
};

function reasonText(reason) {
  if (REASONS[reason]) return t(REASONS[reason]);
  if (reason.startsWith('the provider did not confirm')) return t('reason.not_confirmed');
  return reason;
}
const LIVE = new Set(['held', 'pending', 'confirmed']);

/** A stay's rooms, each with who stays in it and the lead guest it is under. */
function roomFacts(rooms) {
  if (!rooms?.length) return [];
  return [
    h('dt', null, t('rooms.list')),
    h('dd', null, h('ol', { class: 'booked-rooms' }, rooms.map((room, i) => h('li', null,
      roomText(room, i), ' — ', h('span', { class: 'lead-guest' }, t('rooms.lead_guest', { name: room.lead_guest })))))),
  ];
}

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
      if (signal?.aborted) return;
      // A booking that is not there (or not this account's) is not worth retrying.
      if (error.code === 'resource.not_found') {
        replace(container, h('div', { class: 'alert error', role: 'alert' },
          h('p', null, t('booking.missing')),
          options.staff
            ? h('a', { href: '#/client', class: 'button secondary' }, t('agent.nav.client'))
            : h('a', { href: '#/bookings', class: 'button secondary' }, t('nav.bookings'))));
        return;
      }
      replace(container, failure(error, () => load(notice)));
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
          h('dt', null, t('offer.guests')), h('dd', null, t('offer.guests_rooms', { guests: booking.guests ?? '', rooms: booking.quantity })),
          ...roomFacts(booking.rooms)]
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
      booking.status === 'confirmed' ? confirmation(booking) : null,
      // While held, a phone shows the countdown and the pay form before the summary (CSS order).
      h('div', { class: `columns${booking.status === 'held' ? ' held' : ''}` },
        h('section', { class: 'card-panel summary-panel', 'aria-labelledby': 'summary-title' },
          h('h2', { id: 'summary-title' }, t('booking.summary')),
          h('dl', { class: 'facts' }, facts),
          h('h3', null, t('price.title')),
          priceTable(booking.price, booking)),
        h('section', { class: 'card-panel next-panel', 'aria-labelledby': 'next-title' },
          h('h2', { id: 'next-title' }, t('booking.next')),
          nextStep(booking))),
      history(booking));
    watch(booking);
  }

  /**
   * A confirmed booking's receipt (#19, point 2): the reference large, where and when (a
   * stay by its days and the hotel's check-in and check-out times, never its stored
   * midnight), what was paid and what is due at the provider, the cancellation terms,
   * where the email went, and the invoice and a calendar entry to keep.
   */
  function confirmation(booking) {
    const tz = booking.provider.timezone;
    const provider = booking.provider;
    const hotel = provider.kind === 'hotel';
    const address = lang() === 'ar' ? provider.address_ar || provider.address_en : provider.address_en || provider.address_ar;
    // Times of day are the provider's local HH:MM, isolated so they keep their order in Arabic.
    const at = (key, time) => (time ? h('span', { class: 'confirm-time' }, t(key), ' ', h('bdi', { dir: 'ltr', class: 'clock' }, time)) : null);
    const facts = [
      h('dt', null, t('booking.provider')), h('dd', { class: 'confirm-provider' }, name(provider)),
      ...(address ? [h('dt', null, t('confirm.address')), h('dd', { class: 'confirm-address' }, address)] : []),
      ...(name(booking.unit) ? [h('dt', null, t(hotel ? 'booking.room' : 'booking.service')), h('dd', null, name(booking.unit))] : []),
      ...(hotel
        ? [h('dt', null, t('offer.check_in')), h('dd', { class: 'confirm-check-in' }, when(booking.start, tz), at('confirm.from', provider.check_in_time)),
          h('dt', null, t('offer.check_out')), h('dd', { class: 'confirm-check-out' }, when(booking.end, tz), at('confirm.until', provider.check_out_time))]
        : [h('dt', null, t('offer.appointment')), h('dd', { class: 'confirm-appointment' },
          // A clock reads "2:30 م" in Arabic: isolated in its own direction, not forced left-to-right.
          when(booking.start, tz), h('span', { class: 'confirm-time' }, h('bdi', { class: 'clock' }, clock(booking.start, tz)), ' – ',
            h('bdi', { class: 'clock' }, clock(booking.end, tz)), ' ', h('span', { class: 'muted' }, t('confirm.local_time'))))]),
    ];
    // Paid through us: the captured payment (our fee and VAT, and the provider's price when
    // prepaid); at the provider: its price otherwise.
    const paid = booking.payment?.status === 'captured' ? booking.payment.amount : booking.due_now;
    const providerPrice = booking.price.lines.find((line) => line.code === 'provider_price')?.amount ?? '0.00';
    const atProvider = provider.prepaid ? '0.00' : providerPrice;
    const terms = (booking.terms?.cancellation ?? []).map((step, index) => {
      const line = cancellationLine({ cancellation: [step] }, tz);
      return index && !step.until ? t('confirm.after', { what: line }) : line;
    });
    // Booking mail waits while a customer's own email is unverified (notify/email.rs).
    const withheld = !options.staff && !booking.created_by && api.user?.email_verified === false;
    const email = booking.contact.email ?? (options.staff ? null : api.user?.email);
    const links = h('div', { class: 'actions confirm-links' });
    if (booking.payment?.invoice_id) {
      const invoice = h('button', { type: 'button', class: 'secondary' }, t('confirm.invoice'));
      invoice.addEventListener('click', () => busy(invoice, async () => {
        try {
          const found = await api.get(`/v1/invoices/${booking.payment.invoice_id}`);
          await openPrint(api, found);
        } catch (error) {
          announce(problemText(error));
        }
      }));
      links.append(invoice);
    }
    const calendar = h('button', { type: 'button', class: 'secondary' }, t('confirm.calendar'));
    calendar.addEventListener('click', () => busy(calendar, async () => {
      try {
        // The entry needs the bearer token: fetched, then saved from a Blob URL.
        const ics = await api.getText(`/v1/bookings/${booking.id}/calendar.ics?lang=${lang()}`);
        const url = URL.createObjectURL(new Blob([ics], { type: 'text/calendar' }));
        const link = h('a', { href: url, download: `${booking.reference}.ics`, hidden: '' });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } catch (error) {
        announce(problemText(error));
      }
    }));
    links.append(calendar);
    return h('section', { class: 'card-panel confirmation', 'aria-labelledby': 'confirmation-title' },
      h('h2', { id: 'confirmation-title' }, t('confirm.title')),
      h('p', { class: 'confirm-reference' }, h('span', { class: 'muted' }, t('confirm.reference')), ' ',
        h('bdi', { dir: 'ltr', class: 'reference' }, booking.reference)),
      withheld ? h('p', { class: 'confirm-email muted' }, t('confirm.unverified'))
        : email ? h('p', { class: 'confirm-email' }, t(options.staff ? 'confirm.emailed_client' : 'confirm.emailed'), ' ', h('bdi', { dir: 'ltr' }, email)) : null,
      h('dl', { class: 'facts' }, facts),
      h('dl', { class: 'confirm-amounts' },
        h('dt', null, t('confirm.paid')), h('dd', { class: 'confirm-paid' }, money(paid)),
        h('dt', null, t('confirm.at_provider')), h('dd', { class: 'confirm-at-provider' }, money(atProvider))),
      terms.length ? [h('h3', null, t('confirm.terms')), h('ul', { class: 'confirm-terms' }, terms.map((line) => h('li', null, line)))] : null,
      links);
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
        parts.push(h('p', { class: 'alert success', role: 'status' }, t(options.staff ? 'agent.confirmed_text' : 'booking.confirmed_text', { provider: name(booking.provider), name: booking.contact.name })));
        break;
      default:
        parts.push(h('p', { class: 'muted' }, t(`booking.final.${booking.status}`)));
    }
    if (LIVE.has(booking.status)) {
      parts.push(h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => changeDialog(booking) }, t('change.open')),
        h('button', { type: 'button', class: 'danger', onclick: () => cancelDialog(booking) }, t('cancel.open'))));
    }
    return parts;
  }

  function countdown(booking) {
    if (!booking.hold_expires_at) return null;
    const value = h('strong', { class: 'countdown', dir: 'ltr' }, remaining(booking.hold_expires_at));
    // role=timer is not announced on every tick; the minute marks are announced instead.
    const box = h('p', { class: 'hold', role: 'timer', 'aria-live': 'off' }, options.staff ? t('agent.hold_left', { name: booking.contact.name }) : t('booking.hold_left'), ' ', value);
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
    // The rest is paid at the provider: said next to the button, so the amount charged now
    // is never read as the whole price. On a phone this bar stays in view (sticky).
    const atProvider = Number(booking.due_at_provider) > 0
      ? h('p', { class: 'due-note' }, t('due.at_provider_note', {
        amount: money(booking.due_at_provider, 'SAR'), provider: name(booking.provider),
      }))
      : null;
    return form({ class: 'pay', 'aria-labelledby': 'pay-title' }, [
      h('h3', { id: 'pay-title' }, t('pay.title')),
      h('p', { class: 'muted' }, t(options.staff ? 'pay.note_staff' : 'pay.note')),
      cardFields(),
      h('div', { class: 'actions paybar' }, submit, atProvider),
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
              // Read back whole: the cancel's answer has no history, and the page keeps it.
              await load({ kind: 'success', text: Number(refund) > 0 ? t('cancel.done_refund', { refund: money(refund) }) : t('cancel.done') });
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

  /**
   * Changing the booking: new dates (a hotel's stay and guests, a clinic's day) searched in
   * the booking's city, this provider's offers with what each costs against the current
   * total, then the change itself, sent with the booking's `etag` (If-Match) so it applies
   * only to the version on screen.
   */
  function changeDialog(booking) {
    const tz = booking.provider.timezone;
    const hotel = booking.provider.kind === 'hotel';
    const attempt = new Attempt();
    const title = h('h2', { id: 'change-title' }, t('change.title', { reference: booking.reference }));
    const close = h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('common.close'));
    const results = h('section', { class: 'change-results', 'aria-busy': 'false' });
    const dialog = h('dialog', { class: 'dialog wide', 'aria-labelledby': 'change-title' }, title);
    dialog.addEventListener('close', () => dialog.remove());

    // What a change costs now: a hold changes free; otherwise the provider's steps (the fee
    // is a share of its price, collected only when we collect that price).
    const free = booking.status === 'held' || !booking.provider.prepaid;
    const lines = booking.status === 'held' ? [t('change.free_held')] : changeLines(booking.terms, tz, { free });
    const closed = booking.status !== 'held' && booking.terms?.change?.[0] && booking.terms.change[0].fee_percent === null;
    const terms = h('div', { class: 'change-terms' },
      h('h3', null, t('change.terms')),
      h('ul', null, lines.map((line) => h('li', null, line))));
    if (closed) {
      dialog.append(terms, h('p', { role: 'alert' }, t('change.not_allowed')), h('div', { class: 'actions' }, close));
      document.body.append(dialog);
      dialog.showModal();
      close.focus();
      return;
    }

    const day = (iso) => isoDay(new Date(iso), tz);
    const today = isoDay(new Date(), tz);
    const current = Number(booking.price.total);
    const submit = h('button', { type: 'submit' }, t('change.search'));
    const fields = hotel
      ? [field({ name: 'check_in', label: t('search.check_in'), type: 'date', value: day(booking.start), required: true, attrs: { min: today } }),
        field({ name: 'check_out', label: t('search.check_out'), type: 'date', value: day(booking.end), required: true, attrs: { min: today } }),
        field({ name: 'guests', label: t('search.guests'), type: 'number', value: String(booking.guests ?? booking.quantity), required: true, attrs: { min: '1', max: '20', inputmode: 'numeric' } }),
        field({ name: 'rooms', label: t('search.rooms'), type: 'number', value: String(booking.quantity), required: true, attrs: { min: '1', max: '10', inputmode: 'numeric' } })]
      : [field({ name: 'day', label: t('change.day'), type: 'date', value: day(booking.start), required: true, attrs: { min: today } })];
    const searchForm = form({ class: 'change-search', 'aria-label': t('change.search') },
      [h('div', { class: 'search-fields' }, fields), h('div', { class: 'actions' }, submit)],
      async (data, formEl) => {
        clearErrors(formEl);
        const values = Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()]));
        const errors = [];
        // The same guests as booked: each room as it is (its children with their ages).
        const sameGuests = booking.rooms?.length > 0 && Number(values.guests) === booking.guests
          && Number(values.rooms) === booking.quantity;
        const who = sameGuests ? occupancyQuery(booking.rooms) : { guests: values.guests, rooms: values.rooms };
        const query = hotel
          ? { kind: 'hotel', city: booking.provider.city, check_in: values.check_in, check_out: values.check_out, ...who }
          : { kind: 'hospital', city: booking.provider.city, from: values.day, to: values.day };
        if (hotel) {
          if (!values.check_in) errors.push(['check_in', t('search.error.date')]);
          else if (values.check_in < today) errors.push(['check_in', t('search.error.past')]);
          if (!values.check_out) errors.push(['check_out', t('search.error.date')]);
          else if (values.check_in && values.check_out <= values.check_in) errors.push(['check_out', t('search.error.check_out')]);
          const guests = Number(values.guests);
          const rooms = Number(values.rooms);
          if (!Number.isInteger(guests) || guests < 1 || guests > 20) errors.push(['guests', t('search.error.guests')]);
          if (!Number.isInteger(rooms) || rooms < 1 || rooms > 10) errors.push(['rooms', t('search.error.rooms')]);
          else if (rooms > guests) errors.push(['rooms', t('search.error.rooms_guests')]);
        } else if (!values.day) errors.push(['day', t('search.error.date')]);
        else if (values.day < today) errors.push(['day', t('search.error.past')]);
        if (showErrors(formEl, errors)) return;
        await busy(submit, () => search(query, formEl));
      });

    async function search(query, formEl) {
      results.setAttribute('aria-busy', 'true');
      replace(results, loading());
      try {
        const answer = await api.get('/v1/search', { ...query, limit: 200 });
        const mine = answer.offers.filter((offer) => offer.provider.id === booking.provider.id);
        drawOptions(mine, query);
      } catch (error) {
        replace(results);
        showProblem(formEl, error, { from: 'day', to: 'day' });
      } finally {
        results.setAttribute('aria-busy', 'false');
      }
    }

    /** "+50.00 SAR", "−20.00 SAR" or "same price" against the booking's total now. */
    function difference(total) {
      const cents = Math.round((Number(total) - current) * 100);
      if (cents === 0) return t('change.same_price');
      const amount = money((Math.abs(cents) / 100).toFixed(2));
      return cents > 0 ? t('change.costs_more', { amount }) : t('change.costs_less', { amount });
    }

    function drawOptions(offers, query) {
      if (!offers.length) {
        replace(results, h('p', { class: 'muted' }, t('change.none', { provider: name(booking.provider) })));
        announce(t('change.none', { provider: name(booking.provider) }));
        return;
      }
      announce(t('change.found', { count: offers.length }));
      // What the booking already holds is shown, not offered.
      const held = (offer) => offer.unit.code === booking.unit.code && offer.quantity === booking.quantity
        && Date.parse(offer.start) === Date.parse(booking.start) && Date.parse(offer.end) === Date.parse(booking.end)
        && (!hotel || !query.guests || Number(query.guests) === booking.guests);
      const choose = (offer, label) => (held(offer)
        ? h('span', { class: 'badge current' }, hotel ? t('change.current') : [label, ' · ', t('change.current')])
        : h('button', { type: 'button', class: hotel ? 'choose' : 'slot secondary small', onclick: () => confirmStep(offer, query) }, label));
      if (hotel) {
        replace(results, h('h3', null, t('change.options')), h('ul', { class: 'change-list' }, offers.map((offer) => h('li', { class: 'change-option' },
          h('p', { class: 'unit' }, h('strong', null, name(offer.unit))),
          h('dl', { class: 'facts' },
            h('dt', null, t('offer.check_in')), h('dd', null, when(offer.start, tz)),
            h('dt', null, t('offer.check_out')), h('dd', null, when(offer.end, tz)),
            h('dt', null, t('offer.nights')), h('dd', null, String(offer.nights ?? ''))),
          h('p', null, h('strong', null, money(offer.price.total, offer.price.currency)), ' — ', h('span', { class: 'difference' }, difference(offer.price.total))),
          h('div', { class: 'actions' }, choose(offer, t('change.choose')))))));
      } else {
        const services = new Map();
        for (const offer of offers) {
          if (!services.has(offer.unit.code)) services.set(offer.unit.code, []);
          services.get(offer.unit.code).push(offer);
        }
        replace(results, h('h3', null, t('change.options')), [...services.values()].map((slots) => h('section', { class: 'change-option' },
          h('p', { class: 'unit' }, h('strong', null, name(slots[0].unit)), ' — ', money(slots[0].price.total, slots[0].price.currency), ' — ', h('span', { class: 'difference' }, difference(slots[0].price.total))),
          h('ul', { class: 'slots' }, slots.sort((a, b) => a.start.localeCompare(b.start)).map((slot) => h('li', null,
            choose(slot, [clock(slot.start, tz), h('span', { class: 'visually-hidden' }, ` — ${t('change.choose')} ${name(slot.unit)}`)])))))));
      }
      results.querySelector('button')?.focus();
    }

    /** The new terms side by side with the cost, then the change itself. */
    function confirmStep(offer, query) {
      const confirm = h('button', { type: 'submit' }, t('change.confirm'));
      const back = h('button', { type: 'button', class: 'secondary', onclick: () => search(query, searchForm) }, t('change.back'));
      const extra = h('div', { class: 'actions' });
      const reason = h('textarea', { id: 'change-reason', name: 'reason', rows: '2', maxlength: '500' });
      const confirmForm = form({ class: 'change-confirm', 'aria-labelledby': 'change-new-title' }, [
        h('h3', { id: 'change-new-title' }, t('change.new_terms')),
        h('dl', { class: 'facts' },
          h('dt', null, t(hotel ? 'booking.room' : 'booking.service')), h('dd', null, name(offer.unit)),
          ...(hotel
            ? [h('dt', null, t('offer.check_in')), h('dd', null, when(offer.start, tz)),
              h('dt', null, t('offer.check_out')), h('dd', null, when(offer.end, tz)),
              h('dt', null, t('offer.guests')), h('dd', null, t('offer.guests_rooms', { guests: offer.guests ?? query.guests, rooms: offer.quantity }))]
            : [h('dt', null, t('offer.appointment')), h('dd', null, when(offer.start, tz, { time: true }))])),
        priceTable(offer.price, offer),
        h('p', { class: 'difference refund' }, difference(offer.price.total)),
        h('p', { class: 'muted' }, t(free ? 'change.money_note_free' : 'change.money_note')),
        h('div', { class: 'field' }, h('label', { for: 'change-reason' }, t('change.reason')), reason),
        h('div', { class: 'actions' }, confirm, back),
        extra,
      ], async (data, formEl) => {
        clearErrors(formEl);
        replace(extra);
        const body = { offer_id: offer.offer_id };
        if (hotel && query.guests) body.guests = Number(query.guests);
        const why = String(data.get('reason') ?? '').trim();
        if (why) body.reason = why;
        await busy(confirm, async () => {
          try {
            const result = await api.post(`/v1/bookings/${booking.id}/change`, body, attempt, { ifMatch: booking.etag });
            dialog.close();
            if (result.payment?.status === 'requires_action' && result.payment.action_url) {
              options.onAction?.(result.payment, result.booking, (notice) => load(notice));
              return;
            }
            const text = outcome(result);
            announce(text);
            draw(result.booking, { kind: 'success', text });
            focusHeading(container);
          } catch (error) {
            showProblem(formEl, error);
            refused(error, extra, offer, query);
          }
        });
      });
      replace(results, confirmForm);
      confirm.focus();
    }

    /** The way on after a refusal: the fresh price, another search, or the booking reread. */
    function refused(error, extra, offer, query) {
      if (error.code === 'booking.offer_changed' && error.problem.offer) {
        const fresh = error.problem.offer;
        extra.append(priceTable(fresh.price, fresh),
          h('button', { type: 'button', onclick: () => confirmStep(fresh, query) }, t('change.at_new_price')));
      } else if (['booking.sold_out', 'offer.expired', 'booking.change_failed'].includes(error.code)) {
        extra.append(h('button', { type: 'button', class: 'secondary', onclick: () => search(query, searchForm) }, t('search.again')));
      } else if (['booking.precondition_failed', 'booking.invalid_state', 'booking.change_closed', 'booking.change_in_progress'].includes(error.code)) {
        extra.append(h('button', { type: 'button', onclick: () => { dialog.close(); load(); } }, t('change.reload')));
      }
    }

    /** "Changed to 3–5 Dec. 120.00 SAR will be refunded to the card; change fee 45.00 SAR." */
    function outcome({ booking: changed, change }) {
      const dates = hotel
        ? `${gregorian(changed.start, tz, { weekday: false })} — ${gregorian(changed.end, tz, { weekday: false })}`
        : gregorian(changed.start, tz, { time: true, weekday: false });
      const amount = Number(change.difference);
      const parts = [t('change.done', { dates })];
      if (amount > 0) parts.push(t('change.done_charged', { amount: money(change.difference) }));
      else if (amount < 0) parts.push(t('change.done_refund', { amount: money(change.difference.replace('-', '')) }));
      else parts.push(t('change.done_even'));
      if (Number(change.change_fee) > 0) parts.push(t('change.done_fee', { fee: money(change.change_fee) }));
      return parts.join(' ');
    }

    dialog.append(terms, searchForm, results, h('div', { class: 'actions' }, close));
    document.body.append(dialog);
    dialog.showModal();
    searchForm.querySelector('input')?.focus();
  }

  function history(booking) {
    const events = booking.events ?? [];
    if (!events.length) return null;
    // Declined card attempts sit among the status changes, by time.
    const declined = (booking.declined_payments ?? []).map((payment) => ({ declined: payment, at: payment.at }));
    const entries = [...events, ...declined].sort((a, b) => new Date(a.at) - new Date(b.at));
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
      h('ol', { class: 'timeline' }, entries.map((event) => event.declined ? declinedEntry(event.declined, booking) : h('li', null,
        h('p', { class: 'event-head' },
          event.from_status ? [badge(event.from_status), h('span', { class: 'arrow', 'aria-hidden': 'true' }, ` ${t('booking.arrow')} `), h('span', { class: 'visually-hidden' }, t('booking.to'))] : null,
          badge(event.to_status)),
        h('p', { class: 'muted' }, h('strong', { class: 'actor' }, actor(event)), ' — ', when(event.at, booking.provider.timezone, { time: true, weekday: false })),
        event.reason ? h('p', { class: 'reason', dir: 'auto' }, reasonText(event.reason)) : null))));
  }

  function declinedEntry(payment, booking) {
    return h('li', { class: 'declined' },
      h('p', { class: 'event-head' }, h('span', { class: 'badge status-failed' }, t('booking.card_declined', { amount: money(payment.amount) }))),
      h('p', { class: 'muted' }, when(payment.at, booking.provider.timezone, { time: true, weekday: false })),
      payment.failure_code ? h('p', { class: 'reason' }, declineText(payment.failure_code)) : null);
  }

  load(options.notice);
}
