// Invoices and credit notes, and printing one. The printable page needs the bearer token,
// so it is fetched, then shown from a Blob URL in a frame and printed from there.
import { h, replace, loading, failure, busy, focusHeading, announce } from './dom.js';
import { t, problemText } from './i18n.js';
import { when, money } from './format.js';

export function renderInvoices(container, { api, signal }) {
  const status = h('div');
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('common.more'));
  const table = h('div', { class: 'table-wrap', role: 'region', 'aria-label': t('nav.invoices'), tabindex: '0', hidden: true },
    h('table', { class: 'invoices' },
      h('caption', { class: 'visually-hidden' }, t('nav.invoices')),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, t('invoice.number')),
        h('th', { scope: 'col' }, t('invoice.kind')),
        h('th', { scope: 'col' }, t('invoice.issued')),
        h('th', { scope: 'col', class: 'num' }, t('invoice.vat')),
        h('th', { scope: 'col', class: 'num' }, t('invoice.total')),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('list.actions'))))),
      body));
  replace(container, h('h1', null, t('nav.invoices')), status, table, h('div', { class: 'actions' }, more));
  focusHeading(container);
  let cursor = null;

  function row(invoice) {
    const print = h('button', { type: 'button', class: 'secondary' }, t('invoice.print'));
    print.addEventListener('click', () => busy(print, () => openPrint(api, invoice)
      .catch((error) => { replace(status, failure(error)); announce(problemText(error)); })));
    // `data-label`: on a phone each row is a card and each cell says what it is (app.css).
    return h('tr', null,
      h('td', { class: 'number', 'data-label': t('invoice.number') }, h('bdi', { dir: 'ltr' }, invoice.number)),
      h('td', { 'data-label': t('invoice.kind') }, t(`invoice.kind.${invoice.kind}`)),
      h('td', { 'data-label': t('invoice.issued') }, when(invoice.issued_at, 'Asia/Riyadh', { weekday: false })),
      h('td', { class: 'num', 'data-label': t('invoice.vat') }, money(invoice.vat_total, invoice.currency)),
      h('td', { class: 'num total', 'data-label': t('invoice.total') }, money(invoice.total, invoice.currency)),
      h('td', { class: 'print' }, print));
  }

  async function page() {
    const answer = await api.get('/v1/invoices', { cursor });
    if (signal?.aborted) return;
    for (const invoice of answer.invoices) body.append(row(invoice));
    cursor = answer.next_cursor;
    more.hidden = !cursor;
    table.hidden = !body.children.length;
    replace(status, body.children.length ? null : h('p', { class: 'muted' }, t('invoice.none')));
  }

  more.addEventListener('click', () => busy(more, () => page().catch((error) => replace(status, failure(error)))));
  replace(status, loading());
  page().catch((error) => replace(status, failure(error, () => renderInvoices(container, { api, signal }))));
}

/** Fetches the printable invoice and shows it in a dialog with a Print button (throws ApiError). */
export async function openPrint(api, invoice) {
  const styles = [];
  // A Blob document (and even a DOMParser one) falls under this page's CSP, which refuses
  // inline <style>: the invoice's rules are taken out here and applied through a
  // constructed stylesheet instead (CSSOM is not subject to style-src).
  const html = (await api.getText(`/v1/invoices/${invoice.id}/print`))
    .replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (_, css) => { styles.push(css); return ''; });
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  const frame = h('iframe', { src: url, class: 'invoice-frame', title: t('invoice.preview', { number: invoice.number }) });
  frame.addEventListener('load', () => {
    const view = frame.contentWindow;
    const sheet = new view.CSSStyleSheet();
    sheet.replaceSync(styles.join('\n'));
    view.document.adoptedStyleSheets = [sheet];
  });
  const print = h('button', { type: 'button' }, t('invoice.print'));
  print.addEventListener('click', () => {
    frame.contentWindow.focus();
    frame.contentWindow.print();
  });
  const close = h('button', { type: 'button', class: 'secondary' }, t('common.close'));
  const dialog = h('dialog', { class: 'dialog wide', 'aria-labelledby': 'invoice-title' },
    h('h2', { id: 'invoice-title' }, t('invoice.preview', { number: invoice.number })),
    frame,
    h('div', { class: 'actions' }, print, close));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    URL.revokeObjectURL(url);
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  print.focus();
}
