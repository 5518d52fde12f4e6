// Log in and sign up (the agent console uses the same log-in form).
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, focusHeading } from './dom.js';
import { t, lang, problemText } from './i18n.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function renderLogin(container, { api, onDone, heading, signupHref, forgotHref, notice }) {
  const submit = h('button', { type: 'submit' }, t('auth.login'));
  const el = form({ class: 'card-panel narrow', 'aria-labelledby': 'login-title' }, [
    h('h1', { id: 'login-title' }, heading ?? t('auth.login_title')),
    notice ? h('p', { class: 'alert info', role: 'status' }, notice) : null,
    field({ name: 'email', label: t('auth.email'), type: 'email', required: true, attrs: { autocomplete: 'username', dir: 'ltr' } }),
    field({ name: 'password', label: t('auth.password'), type: 'password', required: true, attrs: { autocomplete: 'current-password', dir: 'ltr' } }),
    h('div', { class: 'actions' }, submit),
    forgotHref ? h('p', null, h('a', { href: forgotHref }, t('auth.forgot_link'))) : null,
    signupHref ? h('p', null, t('auth.no_account'), ' ', h('a', { href: signupHref }, t('auth.signup'))) : null,
  ], async (data, formEl) => {
    clearErrors(formEl);
    const email = String(data.get('email')).trim();
    const password = String(data.get('password'));
    const errors = [];
    if (!EMAIL.test(email)) errors.push(['email', t('auth.error.email')]);
    if (!password) errors.push(['password', t('auth.error.password_required')]);
    if (showErrors(formEl, errors)) return;
    await busy(submit, async () => {
      try {
        onDone(await api.login(email, password));
      } catch (error) {
        showProblem(formEl, error);
      }
    });
  });
  replace(container, el);
  focusHeading(container);
}

export function renderSignup(container, { api, onDone, loginHref }) {
  const submit = h('button', { type: 'submit' }, t('auth.create_account'));
  const el = form({ class: 'card-panel narrow', 'aria-labelledby': 'signup-title' }, [
    h('h1', { id: 'signup-title' }, t('auth.signup_title')),
    field({ name: 'full_name', label: t('auth.full_name'), required: true, attrs: { autocomplete: 'name', maxlength: '200' } }),
    field({ name: 'email', label: t('auth.email'), type: 'email', required: true, attrs: { autocomplete: 'email', dir: 'ltr' } }),
    field({ name: 'phone', label: t('auth.phone_optional'), type: 'tel', hint: t('auth.phone_hint'), attrs: { autocomplete: 'tel', dir: 'ltr' } }),
    field({
      name: 'password', label: t('auth.password'), type: 'password', required: true,
      hint: t('auth.password_hint'), attrs: { autocomplete: 'new-password', minlength: '10', maxlength: '128', dir: 'ltr' },
    }),
    h('div', { class: 'actions' }, submit),
    h('p', null, t('auth.have_account'), ' ', h('a', { href: loginHref }, t('auth.login'))),
  ], async (data, formEl) => {
    clearErrors(formEl);
    const details = {
      full_name: String(data.get('full_name')).trim(),
      email: String(data.get('email')).trim(),
      password: String(data.get('password')),
      phone: String(data.get('phone')).trim() || null,
      // Emails about bookings come in the language the customer signed up in.
      locale: lang(),
    };
    const errors = [];
    if (!details.full_name) errors.push(['full_name', t('auth.error.name')]);
    if (!EMAIL.test(details.email)) errors.push(['email', t('auth.error.email')]);
    if (details.phone && !/^[+0-9][0-9\s-]{6,}$/.test(details.phone)) errors.push(['phone', t('field.phone')]);
    if (details.password.length < 10) errors.push(['password', t('auth.error.password_short')]);
    if (showErrors(formEl, errors)) return;
    await busy(submit, async () => {
      try {
        onDone(await api.register(details));
      } catch (error) {
        if (error.code === 'auth.email_taken') showErrors(formEl, [['email', problemText(error)]]);
        else showProblem(formEl, error);
      }
    });
  });
  replace(container, el);
  focusHeading(container);
}
