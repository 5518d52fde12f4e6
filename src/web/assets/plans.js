// Subscription plans: see them (public), subscribe with a card, switch or cancel.
import { h, form, replace, clearErrors, showErrors, showProblem, busy, loading, failure, announce, focusHeading, confirmDialog } from './dom.js';
import { t, problemText } from './i18n.js';
import { when, money, name } from './format.js';
import { Attempt } from './api.js';
import { cardFields, readCard, CARD_FIELDS } from './card.js';

const free = (plan) => Number(plan.price) === 0;

/** "Visa •••• 4242" kept left-to-right as one piece, where the line starts in either language. */
function cardName(card) {
  const brand = card.brand ? card.brand.charAt(0).toUpperCase() + card.brand.slice(1) : '';
  return h('bdi', { dir: 'ltr', class: 'card-name' }, `${brand} •••• ${card.last4}`);
}

export function renderPlans(container, { api, signal, onLogin }) {
  const attempt = new Attempt();

  async function load(notice) {
    replace(container, loading());
    try {
      const [{ plans }, subscription] = await Promise.all([
        api.get('/v1/plans'),
        api.user ? api.get('/v1/subscriptions/me') : null,
      ]);
      if (signal?.aborted) return;
      draw(plans, subscription, notice);
    } catch (error) {
      if (!signal?.aborted) replace(container, failure(error, () => load(notice)));
    }
  }

  function draw(plans, subscription, notice) {
    replace(container,
      h('h1', null, t('plans.title')),
      h('p', { class: 'lead' }, t('plans.lead')),
      notice ? h('p', { class: `alert ${notice.kind}`, role: notice.kind === 'error' ? 'alert' : 'status' }, notice.text) : null,
      subscription ? current(subscription) : null,
      h('ul', { class: 'plans' }, plans.map((plan) => h('li', null, planCard(plan, subscription)))));
    focusHeading(container);
  }

  function current(sub) {
    const actions = h('div', { class: 'actions' });
    if (sub.status !== 'canceled') {
      if (!sub.cancel_at_period_end && sub.status !== 'past_due') {
        actions.append(h('button', { type: 'button', class: 'secondary', onclick: () => cancel('period_end') }, t('plans.cancel_end')));
      }
      actions.append(h('button', { type: 'button', class: 'danger', onclick: () => cancel('now') }, t('plans.cancel_now')));
    }
    const allowance = sub.plan.bookings_per_period === null
      ? t('plans.unlimited')
      : t('plans.used', { used: sub.bookings_used, allowed: sub.plan.bookings_per_period });
    return h('section', { class: 'card-panel current-plan', 'aria-labelledby': 'current-plan-title' },
      h('h2', { id: 'current-plan-title' }, t('plans.current', { plan: name(sub.plan) })),
      h('dl', { class: 'facts' },
        h('dt', null, t('plans.status')), h('dd', null, h('span', { class: `badge sub-${sub.status}` }, t(`sub.${sub.status}`))),
        h('dt', null, sub.cancel_at_period_end ? t('plans.ends') : t(sub.status === 'trialing' ? 'plans.trial_ends' : 'plans.renews')),
        h('dd', null, when(sub.current_period_end, 'Asia/Riyadh')),
        h('dt', null, t('plans.bookings')), h('dd', null, allowance),
        sub.card ? [h('dt', null, t('plans.card')), h('dd', null, cardName(sub.card))] : null),
      actions);
  }

  async function cancel(at) {
    const sure = await confirmDialog({
      title: t('plans.cancel_title'),
      text: t(at === 'now' ? 'plans.cancel_now_text' : 'plans.cancel_end_text'),
      confirm: t(at === 'now' ? 'plans.cancel_now' : 'plans.cancel_end'),
      cancel: t('plans.keep'),
    });
    if (!sure) return;
    try {
      await api.post('/v1/subscriptions/me/cancel', { at });
      load({ kind: 'success', text: t(at === 'now' ? 'plans.cancelled_now' : 'plans.cancelled_end') });
    } catch (error) {
      load({ kind: 'error', text: problemText(error) });
    }
  }

  // A customer gets one trial ever: after it, a plan with trial days is charged at once.
  const trialOf = (plan, sub) => (sub?.trial_used ? 0 : plan.trial_days);

  function planCard(plan, sub) {
    const trial = trialOf(plan, sub);
    const perks = [
      trial ? t('plans.trial', { days: trial }) : null,
      plan.fee_discount_percent === 100 ? t('plans.no_fee')
        : plan.fee_discount_percent ? t('plans.fee_discount', { percent: plan.fee_discount_percent }) : null,
      // The allowance is how many bookings the plan's discount covers: a plan without one
      // says so, rather than boasting "unlimited" beside a paid plan's "up to 10".
      !plan.fee_discount_percent ? t('plans.allowance.none')
        : plan.bookings_per_period === null ? t('plans.allowance.unlimited')
          : t(`plans.allowance.${plan.interval}`, { count: plan.bookings_per_period }),
    ].filter(Boolean);
    const slot = h('div', { class: 'plan-action' });
    const live = sub && sub.status !== 'canceled';
    const mine = live && sub.plan.code === plan.code;
    const choose = h('button', { type: 'button', disabled: mine, 'aria-describedby': `plan-${plan.code}-price` },
      mine ? t('plans.yours') : live ? t('plans.switch') : t('plans.choose'));
    choose.addEventListener('click', () => {
      if (!api.user) { onLogin(); return; }
      if (live) switchTo(plan, choose, slot);
      else if (free(plan)) subscribe(plan, null, choose, slot);
      else replace(slot, subscribeForm(plan, trial));
    });
    return h('article', { class: `plan${mine ? ' mine' : ''}`, 'aria-labelledby': `plan-${plan.code}` },
      h('h2', { id: `plan-${plan.code}` }, name(plan)),
      h('p', { class: 'plan-price', id: `plan-${plan.code}-price` },
        free(plan) ? t('plans.free') : [h('strong', null, money(plan.price_with_vat, plan.currency)), ' ', t(`plans.per_${plan.interval}`)]),
      free(plan) ? null : h('p', { class: 'muted' }, t('plans.vat_included', { price: money(plan.price), vat: money(plan.vat) })),
      h('ul', { class: 'perks' }, perks.map((perk) => h('li', null, perk))),
      h('div', { class: 'actions' }, choose),
      slot);
  }

  function subscribeForm(plan, trial) {
    const submit = h('button', { type: 'submit' }, trial ? t('plans.start_trial', { days: trial }) : t('plans.subscribe', { price: money(plan.price_with_vat) }));
    const el = form({ class: 'subscribe' }, [
      trial ? h('p', { class: 'muted' }, t('plans.trial_note')) : null,
      cardFields(),
      h('div', { class: 'actions' }, submit),
    ], async (data, formEl) => {
      clearErrors(formEl);
      const { card, errors } = readCard(data);
      if (errors) { showErrors(formEl, errors); return; }
      await subscribe(plan, card, submit, formEl);
    });
    queueMicrotask(() => el.querySelector('input')?.focus());
    return el;
  }

  async function subscribe(plan, card, button, formEl) {
    await busy(button, async () => {
      try {
        const body = card ? { plan: plan.code, card } : { plan: plan.code };
        await api.post('/v1/subscriptions', body, attempt);
        announce(t('plans.subscribed', { plan: name(plan) }));
        load({ kind: 'success', text: t('plans.subscribed', { plan: name(plan) }) });
      } catch (error) {
        if (formEl.tagName === 'FORM') showProblem(formEl, error, CARD_FIELDS);
        else replace(formEl, h('p', { class: 'alert error', role: 'alert' }, problemText(error)));
      }
    });
  }

  async function switchTo(plan, button, slot) {
    const sure = await confirmDialog({
      title: t('plans.switch_title', { plan: name(plan) }),
      text: t('plans.switch_text'),
      confirm: t('plans.switch'),
      cancel: t('plans.keep'),
    });
    if (!sure) return;
    await busy(button, async () => {
      try {
        await api.post('/v1/subscriptions/me/change', { plan: plan.code }, attempt);
        load({ kind: 'success', text: t('plans.switched', { plan: name(plan) }) });
      } catch (error) {
        replace(slot, h('p', { class: 'alert error', role: 'alert' }, problemText(error)));
      }
    });
  }

  load();
}
