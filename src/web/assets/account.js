// "Forgot password", the pages the emailed links open (a new password, a confirmed email),
// and the banner that asks a customer to confirm their email. The links carry their token
// in the URL fragment (#/reset-password?token=…), which browsers never send to a server.
import { h, field, form, replace, clearErrors, showErrors, showProblem, busy, focusHeading, loading } from './dom.js';
import { t, problemText } from './i18n.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** `key`'s text with the address isolated left-to-right, so Arabic around it reads right. */
function withEmail(key, email) {
  const [before, after] = t(key, { email: '\u0000' }).split('\u0000');
  return [before, h('bdi', { dir: 'ltr' }, email), after];
}

function linkFailed(container, forgotHref) {
  replace(container, h('div', { class: 'card-panel narrow' },
    h('h1', null, t('account.reset_title')),
    h('p', { class: 'alert error', role: 'alert' }, t('account.link_invalid')),
    forgotHref ? h('p', null, h('a', { href: forgotHref }, t('account.ask_again'))) : null));
  focusHeading(container);
}

export function renderForgot(container, { api, loginHref }) {
  const submit = h('button', { type: 'submit' }, t('account.forgot_send'));
  const el = form({ class: 'card-panel narrow', 'aria-labelledby': 'forgot-title' }, [
    h('h1', { id: 'forgot-title' }, t('account.forgot_title')),
    h('p', null, t('account.forgot_lead')),
    field({ name: 'email', label: t('auth.email'), type: 'email', required: true, attrs: { autocomplete: 'email', dir: 'ltr' } }),
    h('div', { class: 'actions' }, submit),
    h('p', null, h('a', { href: loginHref }, t('account.back_to_login'))),
  ], async (data, formEl) => {
    clearErrors(formEl);
    const email = String(data.get('email')).trim();
    if (showErrors(formEl, EMAIL.test(email) ? [] : [['email', t('auth.error.email')]])) return;
    await busy(submit, async () => {
      try {
        await api.forgotPassword(email);
        // The same words whether or not an account has the address: the server says nothing either.
        replace(container, h('div', { class: 'card-panel narrow' },
          h('h1', null, t('account.forgot_title')),
          h('p', { class: 'alert success', role: 'status' }, withEmail('account.forgot_sent', email)),
          h('p', null, h('a', { href: loginHref }, t('account.back_to_login')))));
        focusHeading(container);
      } catch (error) {
        showProblem(formEl, error);
      }
    });
  });
  replace(container, el);
  focusHeading(container);
}

/** The form a reset link opens; `onDone` runs once the new password is saved. */
export function renderReset(container, { api, token, forgotHref, onDone }) {
  if (!token) {
    linkFailed(container, forgotHref);
    return;
  }
  const submit = h('button', { type: 'submit' }, t('account.reset_submit'));
  const el = form({ class: 'card-panel narrow', 'aria-labelledby': 'reset-title' }, [
    h('h1', { id: 'reset-title' }, t('account.reset_title')),
    field({
      name: 'password', label: t('account.new_password'), type: 'password', required: true,
      hint: t('auth.password_hint'), attrs: { autocomplete: 'new-password', minlength: '10', maxlength: '128', dir: 'ltr' },
    }),
    h('p', { class: 'muted' }, t('account.reset_note')),
    h('div', { class: 'actions' }, submit),
  ], async (data, formEl) => {
    clearErrors(formEl);
    const password = String(data.get('password'));
    if (showErrors(formEl, password.length < 10 ? [['password', t('auth.error.password_short')]] : [])) return;
    await busy(submit, async () => {
      try {
        await api.resetPassword(token, password);
        onDone();
      } catch (error) {
        if (error.code === 'auth.invalid_link') linkFailed(container, forgotHref);
        else showProblem(formEl, error);
      }
    });
  });
  replace(container, el);
  focusHeading(container);
}

/** The page a verification link opens: confirms at once, then `onDone`. */
export async function renderVerify(container, { api, token, onDone, onResent }) {
  replace(container, h('div', { class: 'card-panel narrow' },
    h('h1', null, t('title.verify-email')), loading()));
  try {
    if (!token) throw Object.assign(new Error('no token'), { code: 'auth.invalid_link', status: 400 });
    await api.verifyEmail(token);
    if (api.user) await api.reloadUser().catch(() => {});
    onDone();
  } catch (error) {
    const unverified = api.user?.email_verified === false;
    replace(container, h('div', { class: 'card-panel narrow' },
      h('h1', null, t('title.verify-email')),
      h('p', { class: 'alert error', role: 'alert' }, problemText(error)),
      unverified ? resendButton(api, onResent) : null));
    focusHeading(container);
  }
}

function resendButton(api, onResent) {
  const button = h('button', { type: 'button', class: 'secondary small' }, t('account.resend'));
  const status = h('span', { role: 'status' });
  button.addEventListener('click', () => busy(button, async () => {
    try {
      const answer = await api.resendVerification();
      if (answer !== null) {
        status.textContent = t('account.resent');
        return;
      }
      // Already confirmed (in another tab, say): the page catches up.
      await api.reloadUser();
      status.textContent = t('account.verified');
      onResent?.();
    } catch (error) {
      status.textContent = problemText(error);
    }
  }));
  return h('div', { class: 'actions' }, button, status);
}

/** Shows, or hides, the banner of a signed-in customer whose email is not confirmed yet. */
export function drawVerifyBanner(slot, { api, onChange }) {
  const user = api.user;
  // Sessions saved before the server said `email_verified` are left alone.
  if (user?.role !== 'customer' || user.email_verified !== false) {
    slot.hidden = true;
    slot.replaceChildren();
    return;
  }
  replace(slot, h('div', { class: 'alert warning verify-banner' },
    h('p', null, h('strong', null, t('account.verify_banner_title')), ' ', withEmail('account.verify_banner', user.email)),
    resendButton(api, onChange)));
  slot.hidden = false;
}
