// The card fields, and the checks a card passes before it is sent (the gateway checks again).
import { h, field, input } from './dom.js';
import { t } from './i18n.js';

/** The API's error paths for card fields, mapped to the inputs' names. */
export const CARD_FIELDS = {
  card: 'number',
  'card.number': 'number',
  'card.exp_month': 'exp_month',
  'card.exp_year': 'exp_year',
  'card.cvc': 'cvc',
};

export function cardFields() {
  const year = new Date().getFullYear();
  const months = [['', t('card.month')]];
  for (let m = 1; m <= 12; m++) months.push([String(m), String(m).padStart(2, '0')]);
  const years = [['', t('card.year')]];
  for (let y = year; y <= year + 15; y++) years.push([String(y), String(y)]);
  const fieldset = h('fieldset', { class: 'card' },
    h('legend', null, t('card.legend')),
    // No placeholder: a grey card number reads as one already filled in.
    field({
      name: 'number', label: t('card.number'), required: true,
      attrs: { inputmode: 'numeric', autocomplete: 'cc-number', dir: 'ltr', maxlength: '23' },
    }),
    h('div', { class: 'row' },
      field({ name: 'exp_month', label: t('card.exp_month'), required: true, options: months, attrs: { autocomplete: 'cc-exp-month' } }),
      field({ name: 'exp_year', label: t('card.exp_year'), required: true, options: years, attrs: { autocomplete: 'cc-exp-year' } }),
      field({
        name: 'cvc', label: t('card.cvc'), required: true,
        attrs: { inputmode: 'numeric', autocomplete: 'cc-csc', dir: 'ltr', maxlength: '4', size: '5' },
      })),
    h('details', { class: 'test-cards' },
      h('summary', null, t('card.test_cards')),
      h('ul', null,
        h('li', null, h('code', { dir: 'ltr' }, '4242 4242 4242 4242'), ' — ', t('card.test_ok')),
        h('li', null, h('code', { dir: 'ltr' }, '4000 0027 6000 3184'), ' — ', t('card.test_3ds')),
        h('li', null, h('code', { dir: 'ltr' }, '4000 0000 0000 0002'), ' — ', t('card.test_declined')))));
  // An error goes as soon as its field is put right, not at the next submit.
  const recheck = (event) => {
    const control = event.target;
    if (control.getAttribute('aria-invalid') !== 'true') return;
    const data = new FormData(control.form);
    if (cardErrors(data).some(([name]) => name === control.name)) return;
    control.removeAttribute('aria-invalid');
    const slot = control.closest('.field')?.querySelector('.field-error');
    if (slot) { slot.hidden = true; slot.textContent = ''; }
    // The expiry is one check over two fields: the month fixed clears the year's "expired".
    if (control.name === 'exp_month' && !cardErrors(data).some(([name]) => name === 'exp_year')) {
      const year = input(control.form, 'exp_year');
      if (year?.getAttribute('aria-invalid') === 'true') year.dispatchEvent(new Event('change', { bubbles: true }));
    }
  };
  fieldset.addEventListener('input', recheck);
  fieldset.addEventListener('change', recheck);
  return fieldset;
}

function luhn(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

function values(data) {
  return {
    number: String(data.get('number') ?? '').replace(/[\s-]/g, ''),
    month: Number(data.get('exp_month')),
    year: Number(data.get('exp_year')),
    cvc: String(data.get('cvc') ?? '').trim(),
  };
}

/** What is wrong with the card fields, as [[name, message]]; empty ones are asked for, not called wrong. */
function cardErrors(data) {
  const { number, month, year, cvc } = values(data);
  const errors = [];
  if (!number) errors.push(['number', t('card.error.number_missing')]);
  else if (!/^[0-9]{12,19}$/.test(number) || !luhn(number)) errors.push(['number', t('card.error.number')]);
  if (!(month >= 1 && month <= 12)) errors.push(['exp_month', t('card.error.month')]);
  const now = new Date();
  if (!(year >= 2000 && year <= 2100)) errors.push(['exp_year', t('card.error.year')]);
  else if (year < now.getFullYear() || (year === now.getFullYear() && month >= 1 && month < now.getMonth() + 1)) {
    errors.push(['exp_year', t('card.error.expired')]);
  }
  if (!cvc) errors.push(['cvc', t('card.error.cvc_missing')]);
  else if (!/^[0-9]{3,4}$/.test(cvc)) errors.push(['cvc', t('card.error.cvc')]);
  return errors;
}

/** Reads the card from the form: { card } when it is plausible, else { errors: [[name, message]] }. */
export function readCard(data) {
  const errors = cardErrors(data);
  if (errors.length) return { errors };
  const { number, month, year, cvc } = values(data);
  return { card: { number, exp_month: month, exp_year: year, cvc } };
}
