// The dialogs a booking from the search may ask first: each room's lead guest for a stay of
// several rooms, and the patient for a hospital appointment. The server checks what they
// send; its field errors are shown in them.
import { h, field, form, clearErrors, showErrors } from './dom.js';
import { t } from './i18n.js';
import { name, when, isoDay } from './format.js';
import { roomText } from './rooms.js';

/** The API's paths of the rooms' fields, to the lead-guest dialog's inputs. */
export function leadFields(offer) {
  return Object.fromEntries([['rooms', 'lead_1'],
    ...offer.rooms.flatMap((_, i) => [[`rooms[${i}].lead_guest`, `lead_${i + 1}`], [`rooms[${i}]`, `lead_${i + 1}`]])]);
}

/**
 * Asks whose name each room of a stay is under, each room's guests beside it. Every room
 * starts with the customer's name (on the console, the client's). `submit(names, button,
 * form, dialog)` holds; the server's field errors are shown here.
 */
export function leadDialog(offer, { guestName }, submit) {
  const titleId = `lead-title-${offer.offer_id.slice(-8)}`;
  const send = h('button', { type: 'submit' }, t('lead.submit'));
  const back = h('button', { type: 'button', class: 'secondary' }, t('patient.back'));
  const leadForm = form({ class: 'leads' }, [
    h('p', { class: 'muted' }, t('lead.intro')),
    offer.rooms.map((room, i) => field({
      name: `lead_${i + 1}`, label: t('lead.name', { room: i + 1 }), hint: roomText(room, i), value: guestName, required: true,
      attrs: { maxlength: '200', autocomplete: 'off' },
    })),
    h('div', { class: 'actions' }, send, back),
  ], (data, formEl) => {
    clearErrors(formEl);
    const names = offer.rooms.map((_, i) => String(data.get(`lead_${i + 1}`) ?? '').trim());
    const missing = names.flatMap((value, i) => (value ? [] : [[`lead_${i + 1}`, t('lead.required')]]));
    if (showErrors(formEl, missing)) return;
    submit(names, send, formEl, dialog);
  });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, t('lead.title')),
    h('p', null, name(offer.provider), ' — ', name(offer.unit)),
    leadForm);
  back.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  leadForm.querySelector('input')?.focus();
}

/**
 * Asks who will be seen: full name, date of birth, the kind of ID and its number (and a
 * passport's country). `submit(patient, button, form, dialog)` sends it; the server checks
 * the number (its check digit too) and its field errors are shown here.
 */
export function patientDialog(offer, { staff }, submit) {
  const titleId = `patient-title-${offer.offer_id.slice(-8)}`;
  const country = field({
    name: 'passport_country', label: t('patient.passport_country'), hint: t('patient.passport_country_hint'),
    attrs: { maxlength: '3', autocomplete: 'off', dir: 'ltr', autocapitalize: 'characters' },
  });
  const idType = field({
    name: 'id_type', label: t('patient.id_type'), required: true, value: 'national_id',
    options: ['national_id', 'iqama', 'passport'].map((kind) => [kind, t(`patient.id_type.${kind}`)]),
    attrs: { onchange: (event) => { country.hidden = event.target.value !== 'passport'; } },
  });
  country.hidden = true;
  const send = h('button', { type: 'submit' }, t('patient.submit'));
  const back = h('button', { type: 'button', class: 'secondary' }, t('patient.back'));
  const patientForm = form({ class: 'patient' }, [
    h('p', { class: 'muted' }, t(staff ? 'patient.intro_staff' : 'patient.intro')),
    field({ name: 'full_name', label: t('patient.full_name'), required: true, attrs: { maxlength: '200', autocomplete: staff ? 'off' : 'name' } }),
    field({ name: 'birth_date', label: t('patient.birth_date'), type: 'date', required: true, attrs: { max: isoDay(), autocomplete: staff ? 'off' : 'bday' } }),
    idType,
    field({ name: 'id_number', label: t('patient.id_number'), hint: t('patient.id_number_hint'), required: true, attrs: { maxlength: '20', autocomplete: 'off', dir: 'ltr', spellcheck: 'false' } }),
    country,
    h('div', { class: 'actions' }, send, back),
  ], (data, formEl) => {
    clearErrors(formEl);
    const value = (name) => String(data.get(name) ?? '').trim();
    const missing = ['full_name', 'birth_date', 'id_number'].filter((name) => !value(name));
    if (showErrors(formEl, missing.map((name) => [name, t('patient.required')]))) return;
    const patient = { full_name: value('full_name'), birth_date: value('birth_date'), id_type: value('id_type'), id_number: value('id_number') };
    if (patient.id_type === 'passport' && value('passport_country')) patient.passport_country = value('passport_country');
    submit(patient, send, formEl, dialog);
  });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, t('patient.title')),
    h('p', null, name(offer.provider), ' — ', name(offer.unit), ' — ', when(offer.start, offer.provider.timezone, { time: true })),
    patientForm);
  back.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  patientForm.querySelector('input')?.focus();
}
