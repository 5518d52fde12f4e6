// DOM helpers. Elements are built with createElement and textContent, never innerHTML, so
// text that came from the API (names, reasons) can never become markup.
import { t, problemText, fieldErrorText } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in el) el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let sequence = 0;

/** A labelled input (or select) with a hint and an error slot tied by aria-describedby. */
export function field({ name, label, type = 'text', value, options, hint, required, attrs }) {
  const id = `f-${name.replace(/[^a-z0-9]/gi, '-')}-${++sequence}`;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const common = {
    id,
    name,
    required,
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    ...attrs,
  };
  const input = options
    ? h('select', common, options.map(([optionValue, text]) =>
      h('option', { value: optionValue, selected: String(optionValue) === String(value) }, text)))
    : h('input', { type, value, ...common });
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: id }, label, required ? h('span', { class: 'required', 'aria-hidden': 'true' }, ' *') : null),
    input,
    hint ? h('small', { id: hintId, class: 'hint' }, hint) : null,
    h('p', { id: errorId, class: 'field-error', hidden: true }));
}

/** A form with a form-level alert slot at the top; `onSubmit` gets the FormData. */
export function form(attrs, children, onSubmit) {
  const alert = h('div', { class: 'alert error', role: 'alert', tabindex: '-1', hidden: true });
  const el = h('form', { novalidate: true, ...attrs }, alert, children);
  el.addEventListener('submit', (event) => {
    event.preventDefault();
    onSubmit(new FormData(el), el);
  });
  return el;
}

export function input(formEl, name) {
  return formEl.querySelector(`[name="${CSS.escape(name)}"]`);
}

export function setFieldError(formEl, name, message) {
  const control = input(formEl, name);
  if (!control) return false;
  const slot = control.closest('.field')?.querySelector('.field-error');
  control.setAttribute('aria-invalid', 'true');
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
  }
  return true;
}

export function setFormError(formEl, message) {
  const alert = formEl.querySelector(':scope > .alert');
  alert.textContent = message;
  alert.hidden = false;
}

export function clearErrors(formEl) {
  for (const control of formEl.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const slot of formEl.querySelectorAll('.field-error')) { slot.hidden = true; slot.textContent = ''; }
  const alert = formEl.querySelector(':scope > .alert');
  if (alert) { alert.hidden = true; alert.textContent = ''; }
}

/** Client-side checks: `errors` is [[name, message]]; focuses the first bad field. */
export function showErrors(formEl, errors) {
  for (const [name, message] of errors) setFieldError(formEl, name, message);
  input(formEl, errors[0]?.[0])?.focus();
  return errors.length > 0;
}

/**
 * Shows an API failure: each `errors[].field` next to its input (`fieldNames` maps an API
 * path such as `card.number` to the input's name), anything else at the top of the form.
 */
export function showProblem(formEl, error, fieldNames = {}) {
  const unplaced = [];
  let first = null;
  for (const { field: path, message } of error.fieldErrors ?? []) {
    const name = fieldNames[path] ?? path;
    if (setFieldError(formEl, name, fieldErrorText(path, message))) first ??= name;
    else unplaced.push(fieldErrorText(path, message));
  }
  if (!first || unplaced.length) {
    setFormError(formEl, [problemText(error), ...unplaced].join(' '));
    formEl.querySelector(':scope > .alert').focus?.();
  }
  if (first) input(formEl, first)?.focus();
}

/** Disables a button while its request runs, saying so to screen readers. */
export async function busy(button, work) {
  const label = [...button.childNodes];
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = t('common.working');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.replaceChildren(...label);
  }
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('common.loading'));
}

/** A failed load, with a retry button. */
export function failure(error, retry) {
  return h('div', { class: 'alert error', role: 'alert' },
    h('p', null, problemText(error)),
    retry ? h('button', { type: 'button', class: 'secondary', onclick: retry }, t('common.retry')) : null);
}

/** Polite announcements for screen readers (the page has one #live region). */
export function announce(message) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A new text node after a tick is announced even when the message repeats.
  setTimeout(() => { live.textContent = message; }, 50);
}

/** Moves focus to a view's heading after navigation, so keyboard and screen reader users start there. */
export function focusHeading(container) {
  const heading = container.querySelector('h1, h2');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: false });
  }
}

export function badge(status) {
  return h('span', { class: `badge status-${status}` }, t(`status.${status}`));
}

/** A modal yes/no question; resolves true when confirmed. Esc or "no" resolve false. */
export function confirmDialog({ title, text, confirm, cancel, reasonLabel }) {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'button', class: 'danger' }, confirm);
    const no = h('button', { type: 'button', class: 'secondary' }, cancel);
    const titleId = `dialog-${++sequence}`;
    // With reasonLabel the dialog asks why, and answers with the reason (or false).
    const reasonId = `dialog-reason-${sequence}`;
    const reason = reasonLabel
      ? h('input', { id: reasonId, name: 'reason', required: '', maxlength: '500', autocomplete: 'off' })
      : null;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      h('p', null, text),
      reason ? h('p', { class: 'field' }, h('label', { for: reasonId }, reasonLabel), reason) : null,
      h('div', { class: 'actions' }, yes, no));
    let answer = false;
    yes.addEventListener('click', () => {
      if (reason && !reason.value.trim()) { reason.focus(); return; }
      answer = reason ? reason.value.trim() : true;
      dialog.close();
    });
    no.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(answer); });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
