// A date-range calendar beside a search's two native date inputs, which stay the source of
// truth (and the fallback: they work without it). It shows the range's nights (or days) and
// its Hijri dates; on the calendar, arrow keys move a day or a week (mirrored right to left),
// Page Up/Down a month, Enter or Space picks, Escape closes. The first pick sets the start,
// the second the end.
import { h, replace } from './dom.js';
import { lang, t, plural } from './i18n.js';
import { gregorian, hijri, isoDay, addDays } from './format.js';

const noon = (day) => `${day}T12:00:00Z`;

function monthStart(day) {
  return `${day.slice(0, 7)}-01`;
}

function addMonths(day, months) {
  const date = new Date(noon(monthStart(day)));
  date.setUTCMonth(date.getUTCMonth() + months);
  return date.toISOString().slice(0, 10);
}

function daysBetween(from, to) {
  return Math.round((new Date(noon(to)) - new Date(noon(from))) / 86_400_000);
}

/**
 * The calendar and summary for `startInput` and `endInput`. `unit` is `nights` (a stay: the
 * end is the morning of departure) or `days` (a window, both ends included).
 */
export function dateRange(startInput, endInput, unit) {
  const summary = h('p', { class: 'range-summary', 'aria-live': 'polite' });
  const toggle = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false' }, t('dates.open'));
  const panel = h('div', { class: 'calendar', hidden: true });
  const today = isoDay();
  let month = monthStart(startInput.value || today);
  let active = startInput.value || today;
  let picking = 'start';

  function describe() {
    const [from, to] = [startInput.value, endInput.value];
    if (!from || !to || to < from) {
      replace(summary);
      return;
    }
    const count = unit === 'nights' ? daysBetween(from, to) : daysBetween(from, to) + 1;
    replace(summary,
      h('span', null, plural(`dates.${unit}`, count)),
      h('span', { class: 'hijri' }, `${hijri(noon(from), 'UTC')} – ${hijri(noon(to), 'UTC')}`));
  }

  function pick(day) {
    if (picking === 'start' || day < startInput.value) {
      startInput.value = day;
      if (!endInput.value || endInput.value <= day) endInput.value = addDays(day, unit === 'nights' ? 1 : 0);
      picking = 'end';
    } else {
      endInput.value = unit === 'nights' && day === startInput.value ? addDays(day, 1) : day;
      picking = 'start';
    }
    for (const input of [startInput, endInput]) input.dispatchEvent(new Event('change', { bubbles: true }));
    active = day;
    draw(true);
  }

  function move(days) {
    const next = addDays(active, days);
    if (next < today) return;
    active = next;
    month = monthStart(active);
    draw(true);
  }

  function onKey(event) {
    const rtl = document.documentElement.dir === 'rtl';
    const step = {
      ArrowLeft: rtl ? 1 : -1, ArrowRight: rtl ? -1 : 1, ArrowUp: -7, ArrowDown: 7,
    }[event.key];
    if (step) {
      event.preventDefault();
      move(step);
    } else if (event.key === 'PageUp' || event.key === 'PageDown') {
      event.preventDefault();
      const next = addMonths(active, event.key === 'PageUp' ? -1 : 1);
      active = next < today ? today : next;
      month = monthStart(active);
      draw(true);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close();
    }
  }

  function draw(focus) {
    const first = new Date(noon(month));
    // Weeks start on Sunday, as in the kingdom.
    const lead = first.getUTCDay();
    const days = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0)).getUTCDate();
    const cells = [...Array(lead).fill(null), ...Array.from({ length: days }, (_, i) => addDays(month, i))];
    const weeks = [];
    for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
    const [from, to] = [startInput.value, endInput.value];
    const weekday = (style) => new Intl.DateTimeFormat(lang() === 'ar' ? 'ar-SA-u-nu-latn' : 'en-GB', { weekday: style, timeZone: 'UTC' });
    const [narrow, long] = [weekday('narrow'), weekday('long')];
    const monthName = new Intl.DateTimeFormat(lang() === 'ar' ? 'ar-SA-u-ca-gregory-nu-latn' : 'en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });
    const titleId = `calendar-${startInput.id}`;
    const previous = h('button', { type: 'button', class: 'secondary small', disabled: month <= monthStart(today),
      onclick: () => { month = addMonths(month, -1); active = month < today ? today : month; draw(false); } }, t('dates.previous'));
    const next = h('button', { type: 'button', class: 'secondary small',
      onclick: () => { month = addMonths(month, 1); active = month; draw(false); } }, t('dates.next'));
    replace(panel,
      h('div', { class: 'calendar-head' }, previous,
        h('h3', { id: titleId, 'aria-live': 'polite' }, monthName.format(first),
          h('span', { class: 'hijri' }, `${hijri(noon(month), 'UTC')} – ${hijri(noon(addDays(month, days - 1)), 'UTC')}`)),
        next),
      h('p', { class: 'muted' }, t(picking === 'start' ? 'dates.pick_start' : 'dates.pick_end'), ' ', t('dates.help')),
      h('table', { 'aria-labelledby': titleId, onkeydown: onKey },
        // A narrow letter on screen (seven full names do not fit a phone), the name to a reader.
        h('thead', null, h('tr', null, Array.from({ length: 7 }, (_, i) => {
          const sunday = new Date(Date.UTC(2026, 0, 4 + i));
          return h('th', { scope: 'col' }, h('span', { 'aria-hidden': 'true' }, narrow.format(sunday)),
            h('span', { class: 'visually-hidden' }, long.format(sunday)));
        }))),
        h('tbody', null, weeks.map((week) => h('tr', null, week.map((day) => h('td', null, day ? h('button', {
          type: 'button',
          tabindex: day === active ? '0' : '-1',
          disabled: day < today,
          'aria-pressed': day === from || day === to ? 'true' : 'false',
          'aria-label': `${gregorian(noon(day), 'UTC')} — ${hijri(noon(day), 'UTC')}`,
          class: from && to && day > from && day < to ? 'in-range' : null,
          dataset: { day },
          onclick: () => pick(day),
        }, String(Number(day.slice(8)))) : null)))))));
    if (focus) panel.querySelector(`button[data-day="${active}"]`)?.focus();
  }

  function open() {
    panel.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    toggle.textContent = t('dates.close');
    active = startInput.value && startInput.value >= today ? startInput.value : today;
    month = monthStart(active);
    picking = 'start';
    draw(true);
  }

  function close() {
    panel.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.textContent = t('dates.open');
    toggle.focus();
  }

  toggle.addEventListener('click', () => (panel.hidden ? open() : close()));
  for (const input of [startInput, endInput]) input.addEventListener('input', describe);
  for (const input of [startInput, endInput]) input.addEventListener('change', describe);
  describe();
  return h('div', { class: 'date-range' }, summary, toggle, panel);
}
