// Money and dates for people. Amounts stay decimal strings end to end (Intl formats a
// string without turning it into a float). Dates are shown in the provider's time zone,
// with the Umm al-Qura (Hijri) date beside the Gregorian one.
import { lang, t } from './i18n.js';
import { h } from './dom.js';

// Latin digits in both languages: the same digits as the card number and booking
// reference a customer types, or reads back to an agent on the phone.
function locale(calendar = 'gregory') {
  return lang() === 'ar' ? `ar-SA-u-ca-${calendar}-nu-latn` : `en-GB-u-ca-${calendar}`;
}

const cache = new Map();
function formatter(kind, calendar, options) {
  const key = `${lang()}|${kind}|${calendar}|${JSON.stringify(options)}`;
  let value = cache.get(key);
  if (!value) {
    value = kind === 'number'
      ? new Intl.NumberFormat(locale(), options)
      : new Intl.DateTimeFormat(locale(calendar), options);
    cache.set(key, value);
  }
  return value;
}

export function money(amount, currency = 'SAR') {
  if (amount === null || amount === undefined) return '';
  // Arabic writes the riyal "ر.س." with a closing period, which doubles the period or sits
  // before the comma of the sentence around it ("ر.س.."): the symbol goes without it.
  return formatter('number', null, { style: 'currency', currency })
    .formatToParts(String(amount))
    .map((part) => (part.type === 'currency' ? part.value.replace(/\.$/, '') : part.value))
    .join('');
}

export function percent(value) {
  return formatter('number', null, { style: 'percent', maximumFractionDigits: 0 }).format(value / 100);
}

export function gregorian(iso, timeZone, { time = false, weekday = true } = {}) {
  const text = formatter('date', 'gregory', {
    timeZone,
    weekday: weekday ? 'short' : undefined,
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    ...(time ? { hour: 'numeric', minute: '2-digit' } : {}),
  }).format(new Date(iso));
  return time ? `${text} ${zoneName(timeZone, iso)}` : text;
}

/**
 * Text held in its own direction (FSI … PDI) inside a sentence of the other one, so
 * "2026-11-30" or "GMT+4" in Arabic text is not read back to front.
 */
export function isolate(text) {
  return `\u2068${text}\u2069`;
}

/**
 * The zone a time is in, as people say it: "Saudi time" for the kingdom's zone (Intl's
 * Arabic "غرينتش+3" reads as a misprint), else the offset in Latin letters ("GMT+4").
 */
function zoneName(timeZone, iso) {
  if (timeZone === 'Asia/Riyadh') return t('time.zone.saudi');
  const part = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' })
    .formatToParts(new Date(iso)).find((p) => p.type === 'timeZoneName');
  return part ? isolate(part.value) : '';
}

export function hijri(iso, timeZone) {
  return formatter('date', 'islamic-umalqura', {
    timeZone, day: 'numeric', month: 'long', year: 'numeric',
  }).format(new Date(iso));
}

export function clock(iso, timeZone) {
  return formatter('date', 'gregory', { timeZone, hour: 'numeric', minute: '2-digit' }).format(new Date(iso));
}

/** A <time> with the Gregorian date (and time) and the Hijri date beside it. */
export function when(iso, timeZone, options = {}) {
  if (!iso) return null;
  return h('span', { class: 'when' },
    h('time', { datetime: iso }, gregorian(iso, timeZone, options)),
    h('span', { class: 'hijri' }, hijri(iso, timeZone)));
}

/** "12:05" (or "1:02:05") until `iso`, never negative. */
export function remaining(iso, now = Date.now()) {
  const total = Math.max(0, Math.floor((new Date(iso).getTime() - now) / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** YYYY-MM-DD of `date` in `timeZone` (the API's dates are office or provider days). */
export function isoDay(date = new Date(), timeZone = 'Asia/Riyadh') {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

export function addDays(day, days) {
  const date = new Date(`${day}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

/** The API's bilingual label for a price line, in the current language. */
export function label(line) {
  return lang() === 'ar' ? line.label_ar : line.label_en;
}

export function name(thing) {
  return lang() === 'ar' ? thing.name_ar : thing.name_en;
}

/**
 * A price breakdown: each line (the provider's price, our fee, a plan's discount, VAT) and
 * the total; with `dues` (an offer or a booking), the total split into what is paid now and
 * what at the provider, when part of it is paid there (once a booking is past its hold, what
 * went through us rather than "now").
 */
export function priceTable(quote, dues) {
  const split = dues && Number(dues.due_at_provider) > 0;
  return h('table', { class: 'price' },
    h('caption', { class: 'visually-hidden' }, t('price.caption')),
    h('tbody', null,
      quote.lines.map((line) => h('tr', { class: `line-${line.code}` },
        h('th', { scope: 'row' }, label(line) || t(`price.${line.code}`)),
        h('td', null, money(line.amount, quote.currency))))),
    h('tfoot', null,
      h('tr', { class: 'line-total' },
        h('th', { scope: 'row' }, t('price.total')),
        h('td', null, money(quote.total, quote.currency))),
      split ? [
        h('tr', { class: 'due due-now' },
          h('th', { scope: 'row' }, t(dues.status && dues.status !== 'held' ? 'due.via_us' : 'due.now')),
          h('td', null, money(dues.due_now, quote.currency))),
        h('tr', { class: 'due due-at-provider' },
          h('th', { scope: 'row' }, t('due.at_provider')),
          h('td', null, money(dues.due_at_provider, quote.currency))),
      ] : null));
}

/**
 * "Free cancellation until …", "Non-refundable": the first step of an offer's terms. With
 * `start` (one line for a clinic's many times) the deadline reads as hours before it.
 */
export function cancellationLine(terms, timeZone, { start } = {}) {
  const [now] = terms?.cancellation ?? [];
  if (!now) return null;
  if (now.refund_percent === 0) return t('terms.no_refund');
  const share = percent(now.refund_percent);
  if (!now.until) return now.refund_percent === 100 ? t('terms.free_cancel') : t('terms.refund', { percent: share });
  if (start) {
    const hours = Math.round((new Date(start) - new Date(now.until)) / 3_600_000);
    return now.refund_percent === 100 ? t('terms.free_cancel_before', { hours }) : t('terms.refund_before', { percent: share, hours });
  }
  const until = gregorian(now.until, timeZone, { time: true, weekday: false });
  return now.refund_percent === 100 ? t('terms.free_cancel_until', { until }) : t('terms.refund_until', { percent: share, until });
}

/**
 * A booking's change terms as lines: "free until …", "10 % of the provider's price until …",
 * "no changes after that". `free` when no fee can apply (nothing is collected through us).
 */
export function changeLines(terms, timeZone, { free = false } = {}) {
  return (terms?.change ?? []).map((step, index) => {
    const until = step.until ? gregorian(step.until, timeZone, { time: true, weekday: false }) : null;
    if (step.fee_percent === null || step.fee_percent === undefined) {
      return index ? t('terms.change_closed_after') : t('terms.change_closed');
    }
    const what = free || step.fee_percent === 0 ? t('terms.change_free') : t('terms.change_fee', { percent: percent(step.fee_percent) });
    if (until) return t('terms.until', { until, what });
    return index ? t('terms.after', { what }) : what;
  });
}
