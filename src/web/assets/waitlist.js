// Waitlists (#16 point 2) on the customer site and the console: "notify me" (أبلغني) under
// a search that found nothing, one button per room type or clinic of ours in the city; and
// one's entries on the bookings page, each with its offer (the held booking, paid on its
// page) and "leave". The server decides everything: who is first, what is offered, for how long.
import { h, replace, field, form, busy, loading, failure, badge, announce, confirmDialog, clearErrors, showErrors, showProblem } from './dom.js';
import { t, lang } from './i18n.js';
import { Attempt } from './api.js';
import { gregorian, money, isoDay } from './format.js';

const PATIENT_FIELDS = { 'patient.full_name': 'full_name', 'patient.birth_date': 'birth_date', 'patient.id_type': 'id_type', 'patient.id_number': 'id_number', 'patient.passport_country': 'passport_country' };

/** The entry's or unit's name in the reader's language. */
function named(thing, what) {
  return lang() === 'en' ? thing[`${what}_name_en`] : thing[`${what}_name_ar`];
}

/** What a hotel search asks for, as a waitlist entry takes it: its nights, rooms and guests. */
function stayOf(query) {
  const adults = String(query.occupancy ?? '2').split(',').map(Number).filter((n) => n > 0);
  const children = String(query.children ?? '').split(',').filter(Boolean).length;
  return {
    check_in: query.check_in,
    check_out: query.check_out,
    rooms: Math.max(adults.length, 1),
    guests: adults.reduce((sum, n) => sum + n, 0) + children || 1,
  };
}

/**
 * "Notify me" under an empty search: our units in the city, each a button that joins its
 * waitlist for the search's dates (a clinic asks who will be seen first). `customerId` puts a
 * client on it (the console); `beforeJoin()` may refuse (not signed in: it asks to sign in).
 */
export function notifyMe({ api, query, customerId, beforeJoin }) {
  const list = h('ul', { class: 'waitlist-units' });
  const status = h('p', { role: 'status', class: 'waitlist-status' });
  const section = h('section', { class: 'waitlist-notify', 'aria-labelledby': 'waitlist-notify-title' },
    h('h3', { id: 'waitlist-notify-title' }, t('waitlist.notify_title')),
    h('p', { class: 'muted' }, t(customerId ? 'waitlist.notify_lead_staff' : query.kind === 'hospital' ? 'waitlist.notify_lead_clinic' : 'waitlist.notify_lead')),
    list, status);
  section.hidden = true;
  api.get('/v1/waitlist/units', { city: query.city, kind: query.kind, specialty: query.specialty })
    .then(({ units }) => {
      replace(list, units.map((unit) => h('li', null, unitButton(unit))));
      section.hidden = units.length === 0;
    })
    .catch(() => {});

  function unitButton(unit) {
    const attempt = new Attempt();
    const button = h('button', { type: 'button', class: 'secondary small notify-me' },
      t('waitlist.notify_me'), ' — ', named(unit, 'provider'), ' · ', named(unit, 'unit'));
    const base = { provider_id: unit.provider_id, unit_code: unit.unit_code, customer_id: customerId };
    const joined = () => {
      button.disabled = true;
      button.replaceChildren(t('waitlist.joined_button'), ' — ', named(unit, 'provider'), ' · ', named(unit, 'unit'));
      const said = t(customerId ? 'waitlist.joined_client' : 'waitlist.joined');
      status.textContent = said;
      announce(said);
    };
    const refused = (error) => {
      status.textContent = error.code === 'waitlist.duplicate' ? t(customerId ? 'waitlist.already_client' : 'waitlist.already') : error.message;
    };
    button.addEventListener('click', () => {
      if (beforeJoin && !beforeJoin()) return;
      if (query.kind === 'hospital') {
        patientDialog(unit, Boolean(customerId), (patient, send, formEl, dialog) => busy(send, async () => {
          try {
            await api.post('/v1/waitlist', { ...base, from: query.from, to: query.to, patient }, attempt);
            dialog.close();
            joined();
          } catch (error) {
            if ((error.fieldErrors ?? []).some((e) => e.field.startsWith('patient'))) {
              showProblem(formEl, error, PATIENT_FIELDS);
              return;
            }
            dialog.close();
            refused(error);
          }
        }));
        return;
      }
      busy(button, async () => {
        try {
          await api.post('/v1/waitlist', { ...base, ...stayOf(query) }, attempt);
          joined();
        } catch (error) {
          refused(error);
        }
      });
    });
    return button;
  }
  return section;
}

/** Who will be seen at the clinic, asked before joining its waitlist (the server checks it). */
function patientDialog(unit, staff, submit) {
  const titleId = `waitlist-patient-${unit.unit_code}`;
  const send = h('button', { type: 'submit' }, t('waitlist.join'));
  const back = h('button', { type: 'button', class: 'secondary' }, t('patient.back'));
  const patientForm = form({ class: 'patient' }, [
    h('p', { class: 'muted' }, t(staff ? 'patient.intro_staff' : 'patient.intro')),
    field({ name: 'full_name', label: t('patient.full_name'), required: true, attrs: { maxlength: '200', autocomplete: staff ? 'off' : 'name' } }),
    field({ name: 'birth_date', label: t('patient.birth_date'), type: 'date', required: true, attrs: { max: isoDay() } }),
    field({
      name: 'id_type', label: t('patient.id_type'), required: true, value: 'national_id',
      options: ['national_id', 'iqama', 'passport'].map((kind) => [kind, t(`patient.id_type.${kind}`)]),
    }),
    field({ name: 'id_number', label: t('patient.id_number'), hint: t('patient.id_number_hint'), required: true, attrs: { maxlength: '20', autocomplete: 'off', dir: 'ltr', spellcheck: 'false' } }),
    h('div', { class: 'actions' }, send, back),
  ], (data, formEl) => {
    clearErrors(formEl);
    const value = (name) => String(data.get(name) ?? '').trim();
    const missing = ['full_name', 'birth_date', 'id_number'].filter((name) => !value(name));
    if (showErrors(formEl, missing.map((name) => [name, t('patient.required')]))) return;
    submit({ full_name: value('full_name'), birth_date: value('birth_date'), id_type: value('id_type'), id_number: value('id_number') }, send, formEl, dialog);
  });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, t('patient.title')),
    h('p', null, named(unit, 'provider'), ' — ', named(unit, 'unit')),
    patientForm);
  back.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  patientForm.querySelector('input')?.focus();
}

/**
 * The signed-in customer's entries (or, on the console, `customerId`'s), newest first;
 * `onChange()` runs after leaving one (its offer's hold, if any, was cancelled).
 */
export function myWaitlist({ api, customerId, onChange }) {
  const list = h('ul', { class: 'waitlist-entries' });
  const status = h('div');
  const section = h('section', { class: 'waitlist-mine', 'aria-labelledby': 'waitlist-mine-title' },
    h('h2', { id: 'waitlist-mine-title' }, t('waitlist.mine_title')), status, list);

  function entryItem(entry) {
    const item = h('li', { class: 'waitlist-entry', dataset: { status: entry.status } },
      h('p', null, h('strong', null, named(entry, 'provider')), ' · ', named(entry, 'unit'), ' ', badge(`waitlist-${entry.status}`)),
      h('p', { class: 'muted' }, t(entry.kind === 'stay' ? 'waitlist.nights' : 'waitlist.days', {
        from: gregorian(entry.from, 'UTC', { weekday: false }), to: gregorian(entry.to, 'UTC', { weekday: false }),
      })));
    if (entry.status === 'offered' && entry.offer) {
      item.append(h('p', { class: 'alert success' },
        t('waitlist.offered', { until: gregorian(entry.offer.hold_expires_at, 'Asia/Riyadh', { time: true, weekday: false }) }), ' ',
        h('a', { href: `#/booking/${entry.offer.booking_id}`, class: 'button small' }, t('waitlist.pay', { total: money(entry.offer.total) }))));
    }
    if (entry.status === 'waiting' || entry.status === 'offered') {
      const leave = h('button', { type: 'button', class: 'secondary small' }, t('waitlist.leave'));
      leave.addEventListener('click', async () => {
        const sure = await confirmDialog({
          title: t('waitlist.leave_title'),
          text: t(entry.status === 'offered' ? 'waitlist.leave_offer_text' : 'waitlist.leave_text'),
          confirm: t('waitlist.leave'), cancel: t('waitlist.stay'),
        });
        if (!sure) return;
        await busy(leave, async () => {
          try {
            const left = await api.del(`/v1/waitlist/${entry.id}`);
            item.replaceWith(entryItem(left));
            announce(t('waitlist.left'));
            onChange?.();
          } catch (error) {
            item.append(failure(error));
          }
        });
      });
      item.append(h('div', { class: 'actions' }, leave));
    }
    return item;
  }

  async function load() {
    replace(status, loading());
    try {
      const { entries } = customerId
        ? await api.get('/v1/waitlist', { customer_id: customerId, limit: 50 })
        : await api.get('/v1/waitlist/me', { limit: 50 });
      replace(list, entries.map(entryItem));
      replace(status, entries.length ? null : h('p', { class: 'muted' }, t(customerId ? 'waitlist.none_client' : 'waitlist.none')));
    } catch (error) {
      replace(status, failure(error, load));
    }
  }
  load();
  return section;
}
