// End-to-end tests of the customer site and the agent console in headless Chromium.
//
//   node tests/e2e/run.mjs http://127.0.0.1:<port>
//
// The server must have the demo providers loaded and job workers running (bookings are
// confirmed by a job). Environment:
//   WASIT_E2E_AGENT_EMAIL, WASIT_E2E_AGENT_PASSWORD  an agent account (scenario b)
//   WASIT_E2E_PENDING_REFERENCE  a paid booking whose confirmation is put off: the agent
//                              retries it from the pending list
//   WASIT_E2E_FEW_ROOMS_CITY  a city whose one hotel has two rooms left, priced by
//                              occupancy (scenario e books both; default riyadh)
//   WASIT_E2E_SILENT_PROVIDER  the Arabic name of a Riyadh hotel that never answers, if
//                              there is one: its "timed out" note must show
//   WASIT_TEST_MAILDEV_URL  the SMTP test server's web API (scenario d reads its links)
//   WASIT_TEST_CHROMIUM   the browser (default /usr/bin/chromium)
//   WASIT_SCREENSHOTS     where screenshots go (default target/screenshots)
// Exits non-zero when any scenario fails; each failure leaves a FAILED-*.png.

import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const base = (process.argv[2] ?? '').replace(/\/$/, '');
if (!/^https?:\/\//.test(base)) {
  console.error('usage: node tests/e2e/run.mjs <base_url>');
  process.exit(2);
}
const shots = path.resolve(root, process.env.WASIT_SCREENSHOTS || 'target/screenshots');
const agent = {
  email: process.env.WASIT_E2E_AGENT_EMAIL,
  password: process.env.WASIT_E2E_AGENT_PASSWORD,
};
const CONFIRM_TIMEOUT = 45_000;
const PASSWORD = 'correct horse battery';
const nextYear = String(new Date().getFullYear() + 1);

const browser = await chromium.launch({
  executablePath: process.env.WASIT_TEST_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
await mkdir(shots, { recursive: true });
for (const stale of (await readdir(shots)).filter((f) => f.startsWith('FAILED-'))) await rm(path.join(shots, stale));

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A fresh browser profile (empty storage) watching for script errors and CSP refusals. */
async function open(name, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport, locale: 'ar-SA', timezoneId: 'Asia/Riyadh' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A 4xx answer the page handles (no subscription yet: 404) is logged by Chromium too.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console at ${page.url()}: ${message.text()}`);
    }
  });
  const shot = async (file, options = {}) => {
    await page.screenshot({ path: path.join(shots, file), fullPage: options.fullPage ?? true });
    console.log(`  screenshot ${file}`);
  };
  return { context, page, problems, shot, name };
}

/** Every control on the page has a label (or an aria-label). */
async function expectLabelled(page) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.outerHTML.slice(0, 60)));
  check(!unlabelled.length, `controls without a label: ${unlabelled}`);
}

async function expectDir(page, dir, langValue) {
  await page.waitForFunction(([d, l]) => document.documentElement.dir === d && document.documentElement.lang === l, [dir, langValue]);
}

async function card(page, number) {
  await page.getByLabel(/رقم البطاقة|Card number/).fill(number);
  await page.getByLabel(/شهر الانتهاء|Expiry month/).selectOption('12');
  await page.getByLabel(/سنة الانتهاء|Expiry year/).selectOption(nextYear);
  await page.getByLabel(/رمز التحقق|Security code/).fill('123');
}

/**
 * Fills the patient dialog a hospital slot opens. With `firstTry` the number is typed with a
 * wrong check digit first: the server's field error shows beside it, then the right one.
 */
async function patient(page, { name, idNumber, firstTry, shot } = {}) {
  const dialog = page.getByRole('dialog', { name: /بيانات المريض|Patient details/ });
  await dialog.waitFor();
  await expectLabelled(page);
  await dialog.getByLabel(/اسم المريض الكامل|Patient's full name/).fill(name);
  await dialog.getByLabel(/تاريخ الميلاد|Date of birth/).fill('1985-03-14');
  await dialog.getByLabel(/نوع الهوية|ID type/).selectOption('national_id');
  const number = dialog.getByLabel(/رقم الهوية أو الإقامة أو الجواز|National ID, Iqama or passport number/);
  if (firstTry) {
    await number.fill(firstTry);
    await dialog.getByRole('button', { name: /احجز الموعد|Book the appointment/ }).click();
    await dialog.locator('.field-error:not([hidden])').first().waitFor();
    check(await number.getAttribute('aria-invalid') === 'true', 'the bad ID number is not marked invalid');
    if (shot) await shot('agent-patient-error-ar.png');
  }
  await number.fill(idNumber);
  await dialog.getByRole('button', { name: /احجز الموعد|Book the appointment/ }).click();
  await dialog.waitFor({ state: 'detached' });
}

async function waitForStatus(page, status, timeout = CONFIRM_TIMEOUT) {
  await page.locator(`.booking-head .badge.status-${status}`).waitFor({ timeout });
}

/** YYYY-MM-DD `days` from today in Riyadh. */
function day(days) {
  const date = new Date(Date.now() + days * 86_400_000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Riyadh', year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
}

async function search(page, { kind = 'hotel', city = 'riyadh', checkIn } = {}) {
  if (kind === 'hospital') await page.getByLabel(/موعد في مستشفى|Hospital appointment/).check();
  await page.getByLabel(/^(المدينة|City)/).selectOption(city);
  if (checkIn !== undefined) {
    await page.getByLabel(/^(تاريخ الوصول|Check-in)/).fill(day(checkIn));
    await page.getByLabel(/^(تاريخ المغادرة|Check-out)/).fill(day(checkIn + 2));
  }
  await page.getByRole('button', { name: /^(ابحث|Search)$/ }).click();
  await page.locator('.offer').first().waitFor();
}

// ---- (a) a customer signs up, searches, books, pays (once through 3-D Secure) --------
async function customerJourney({ page, shot }) {
  const email = `sara-${Date.now()}@example.com`;
  await page.goto(`${base}/`);
  await expectDir(page, 'rtl', 'ar');
  await page.getByRole('heading', { name: 'ابحث عن فندق أو موعد طبي' }).waitFor();
  await shot('customer-search-ar.png');

  // Sign up, first with nothing filled in: the fields say what is missing.
  await page.getByRole('link', { name: 'إنشاء حساب' }).first().click();
  await page.getByRole('button', { name: 'إنشاء الحساب' }).click();
  await page.locator('.field-error:not([hidden])').first().waitFor();
  check(await page.getByLabel('البريد الإلكتروني').getAttribute('aria-invalid') === 'true', 'email not marked invalid');
  await shot('customer-signup-errors-ar.png');
  await expectLabelled(page);
  await page.getByLabel('الاسم الكامل').fill('سارة الحربي');
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByLabel('كلمة المرور').fill(PASSWORD);
  await page.getByRole('button', { name: 'إنشاء الحساب' }).click();
  await page.getByText('أهلاً، سارة الحربي').waitFor();

  // Search Riyadh hotels: two demo hotels answer; a third (in the Rust test) never does.
  await search(page);
  const providers = await page.locator('.offer h3').allTextContents();
  check(new Set(providers).size >= 2, `offers from one provider only: ${providers}`);
  if (process.env.WASIT_E2E_SILENT_PROVIDER) {
    await page.locator('.provider-note.timeout', { hasText: process.env.WASIT_E2E_SILENT_PROVIDER }).waitFor();
  }
  check(await page.locator('.offer .line-vat').count() > 0, 'no VAT line on offers');
  check(await page.locator('.offer .hijri').count() > 0, 'no Hijri date on offers');
  check((await page.locator('.offer .terms').first().textContent()).includes('إلغاء'), 'no cancellation terms on offers');
  await shot('customer-results-ar.png');

  // Book the first offer: a hold with a live countdown, naming the room it holds.
  const offeredRoom = (await page.locator('.offer').first().locator('.unit').textContent()).trim();
  await page.locator('.offer').first().getByRole('button', { name: 'احجز' }).click();
  await page.waitForURL(/#\/booking\//);
  await waitForStatus(page, 'held');
  const heldRoom = (await page.locator('dd.unit').textContent()).trim();
  check(heldRoom === offeredRoom, `the booking names the room offered: ${heldRoom} / ${offeredRoom}`);
  const countdown = page.locator('.countdown');
  const first = await countdown.textContent();
  check(/^\d+:\d{2}$/.test(first), `countdown reads ${first}`);
  await page.waitForFunction((before) => document.querySelector('.countdown')?.textContent !== before, first);
  await shot('customer-booking-held-ar.png');
  await expectLabelled(page);

  // A mistyped card is caught before it is sent; then pay with the card that succeeds.
  await card(page, '4242 4242 4242 4241');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  await page.locator('.field-error:not([hidden])', { hasText: 'رقم البطاقة غير صحيح' }).waitFor();
  await card(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  await waitForStatus(page, 'confirmed');
  await page.getByRole('heading', { name: 'سجل الحجز' }).waitFor();
  await shot('customer-booking-confirmed-ar.png');

  // A second stay, a week ahead (so cancelling refunds in full), paid with the card that
  // asks for 3-D Secure.
  await page.getByRole('link', { name: 'ابحث واحجز' }).click();
  await search(page, { city: 'jeddah', checkIn: 7 });
  await page.locator('.offer').first().getByRole('button', { name: 'احجز' }).click();
  await waitForStatus(page, 'held');
  await card(page, '4000 0027 6000 3184');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  await page.waitForURL(/\/sandbox\/3ds\//);
  await shot('bank-3ds-page.png');
  await page.getByRole('button', { name: /Approve/ }).click();
  await page.waitForURL((url) => url.pathname === '/' && url.hash.startsWith('#/booking/'));
  check(!page.url().includes('payment='), 'the return address keeps ?payment=');
  await page.locator('#main').getByText('تم التحقق من البطاقة ونجح الدفع.').waitFor();
  await waitForStatus(page, 'confirmed');
  await shot('customer-3ds-return-ar.png');

  // Change it to one night fewer in the same room: the change terms show first, only this
  // hotel's rooms are offered, and the night's price goes back to the card.
  const room = (await page.locator('dd.unit').textContent()).trim();
  const totalBefore = (await page.locator('.price tfoot td').first().textContent()).trim();
  await page.getByRole('button', { name: 'تغيير الحجز' }).click();
  const changing = page.getByRole('dialog');
  await changing.locator('.change-terms li').first().waitFor();
  check((await changing.locator('.change-terms').textContent()).includes('التغيير مجاني'), 'the free change is not shown');
  await expectLabelled(page);
  await changing.getByLabel(/^تاريخ المغادرة/).fill(day(8));
  await changing.getByRole('button', { name: 'اعرض الخيارات' }).click();
  const option = changing.locator('.change-option', { hasText: room }).first();
  await option.waitFor();
  const hotelName = (await page.locator('.facts dd').first().textContent()).trim();
  check((await option.textContent()).includes('أقل بـ'), `a shorter stay does not cost less: ${await option.textContent()}`);
  await shot('customer-change-options-ar.png', { fullPage: false });
  await option.getByRole('button', { name: 'اختر هذا' }).click();
  await changing.getByRole('heading', { name: 'الحجز بعد التغيير' }).waitFor();
  await changing.getByRole('button', { name: 'أكّد التغيير' }).click();
  const changed = page.locator('#main .alert.success', { hasText: 'تم تغيير الحجز' });
  await changed.waitFor();
  check((await changed.textContent()).includes('سيُعاد'), `no refund in the outcome: ${await changed.textContent()}`);
  await waitForStatus(page, 'confirmed');
  const totalAfter = (await page.locator('.price tfoot td').first().textContent()).trim();
  check(totalAfter !== totalBefore, `the total did not change: ${totalAfter}`);
  check((await page.locator('.facts dd').first().textContent()).trim() === hotelName, 'the hotel changed');
  const checkOut = await page.locator('.facts time').nth(1).getAttribute('datetime');
  check(new Date(checkOut) < new Date(`${day(9)}T00:00:00+03:00`), `the check-out is not a night earlier: ${checkOut}`);
  await page.locator('.timeline li', { hasText: 'تغيّرت تفاصيل الحجز' }).waitFor();
  await shot('customer-changed-ar.png');

  // Cancel it, seeing the refund first.
  await page.getByRole('button', { name: 'إلغاء الحجز' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('.refund').waitFor();
  const refundText = await dialog.locator('.refund').textContent();
  check(refundText.includes('يُسترد') && refundText.includes('100'), `the full refund is not shown: ${refundText}`);
  check(refundText.includes('ر.س') && !/ر\.س\.[.،]/.test(refundText), `the riyal's period doubles the sentence's: ${refundText}`);
  await shot('customer-cancel-refund-ar.png', { fullPage: false });
  await dialog.getByRole('button', { name: 'نعم، ألغِ الحجز' }).click();
  await waitForStatus(page, 'cancelled', 15_000);
  // The history stays on the page after cancelling (#19, point 5), with the cancellation.
  await page.locator('.timeline li', { hasText: 'ملغى' }).waitFor();
  check(await page.locator('.timeline li', { hasText: 'تغيّرت تفاصيل الحجز' }).count() > 0,
    'the history before the cancellation is gone');

  // A booking that is not there offers the bookings list, not a retry (#19, point 5).
  const cancelledUrl = page.url();
  await page.goto(cancelledUrl.replace(/#\/booking\/.*$/, '#/booking/WS-ZZZZZZ'));
  const missing = page.getByRole('alert').filter({ hasText: 'لا نجد هذا الحجز' });
  await missing.waitFor();
  check(await missing.getByRole('link', { name: 'حجوزاتي' }).count() === 1, 'a missing booking does not offer My bookings');
  check(await missing.getByRole('button', { name: 'أعد المحاولة' }).count() === 0, 'a missing booking offers a retry');
  await page.goto(cancelledUrl);
  await waitForStatus(page, 'cancelled', 15_000);

  // An access token the server refuses (401): the site renews the session with the
  // refresh token and carries on.
  const session = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('wasit.site.session')));
  const before = await session();
  await page.evaluate(() => {
    const value = JSON.parse(sessionStorage.getItem('wasit.site.session'));
    value.access_token = `x${value.access_token}`;
    sessionStorage.setItem('wasit.site.session', JSON.stringify(value));
  });

  // My bookings.
  await page.getByRole('link', { name: 'حجوزاتي' }).click();
  await page.locator('table.bookings tbody tr').nth(1).waitFor();
  const renewed = await session();
  check(renewed.refresh_token !== before.refresh_token, 'the session was not renewed after a 401');
  await shot('customer-bookings-ar.png');

  // An access token past its time is renewed before the request goes out.
  await page.evaluate(() => {
    const value = JSON.parse(sessionStorage.getItem('wasit.site.session'));
    value.expires_at = 0;
    sessionStorage.setItem('wasit.site.session', JSON.stringify(value));
  });

  // Invoices, and one printed from its Blob URL with its own styles applied.
  await page.getByRole('link', { name: 'فواتيري' }).click();
  await page.locator('table.invoices tbody tr').nth(1).waitFor();
  check((await session()).refresh_token !== renewed.refresh_token, 'an expired token was not renewed');
  await page.getByRole('button', { name: 'طباعة' }).first().click();
  const frame = page.frameLocator('iframe.invoice-frame');
  await frame.getByText(/(INV|CRN)-\d{4}-\d{6}/).first().waitFor();
  const headerDisplay = await page.locator('iframe.invoice-frame').evaluate(async (el) => {
    for (let i = 0; i < 50 && el.contentDocument?.adoptedStyleSheets.length !== 1; i++) await new Promise((r) => setTimeout(r, 100));
    return el.contentWindow.getComputedStyle(el.contentDocument.querySelector('header')).display;
  });
  check(headerDisplay === 'flex', `the invoice's styles were not applied (header is ${headerDisplay})`);
  await shot('customer-invoice-ar.png', { fullPage: false });
  await page.getByRole('button', { name: 'إغلاق' }).click();

  // A plan with a free trial, paid later with the card saved now; then cancel at period end.
  await page.getByRole('link', { name: 'الاشتراكات' }).click();
  await page.locator('.plan').nth(2).waitFor();
  const plus = page.locator('.plan', { has: page.getByText('تجربة مجانية') }).first();
  await plus.getByRole('button', { name: 'اختر هذه الخطة' }).click();
  await card(page, '4242 4242 4242 4242');
  await expectLabelled(page);
  await plus.getByRole('button', { name: /ابدأ التجربة المجانية/ }).click();
  await page.locator('.current-plan').waitFor();
  await page.locator('.current-plan .sub-trialing').waitFor();
  await shot('customer-plans-ar.png');
  await page.getByRole('button', { name: 'إلغاء في نهاية الفترة' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'إلغاء في نهاية الفترة' }).click();
  await page.locator('#main').getByText('سينتهي اشتراكك في نهاية الفترة الحالية.').waitFor();

  // The same pages in English.
  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.getByRole('heading', { name: 'Subscription plans' }).waitFor();
  await shot('customer-plans-en.png');
  await page.getByRole('link', { name: 'My bookings' }).click();
  await page.locator('table.bookings tbody tr').nth(1).waitFor();
  await shot('customer-bookings-en.png');
  await page.locator('table.bookings tbody tr a').first().click();
  await page.getByRole('heading', { name: 'History' }).waitFor();
  await shot('customer-booking-en.png');
}

// ---- (e) a customer books two rooms with their own guests and lead guests --------------
/** The amount in "… — 1,020.00 ر.س" as a number. */
function amount(text) {
  return Number(text.split('—').pop().match(/[0-9,]+\.[0-9]{2}/)[0].replaceAll(',', ''));
}

async function twoRooms({ page, shot }) {
  const city = process.env.WASIT_E2E_FEW_ROOMS_CITY;
  const email = `layla-${Date.now()}@example.com`;
  await page.goto(`${base}/#/signup`);
  await page.getByLabel('الاسم الكامل').fill('ليلى القحطاني');
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByLabel('كلمة المرور').fill(PASSWORD);
  await page.getByRole('button', { name: 'إنشاء الحساب' }).click();
  await page.getByText('أهلاً، ليلى القحطاني').waitFor();
  await page.getByRole('link', { name: 'ابحث واحجز' }).click();

  // Room 1: two adults and a child of 7; room 2: one adult.
  await page.getByLabel('البالغون في الغرفة 1').selectOption('2');
  await page.getByRole('button', { name: 'أضف طفلًا إلى الغرفة 1' }).click();
  const age = page.getByLabel('عمر الطفل 1 في الغرفة 1 (بالسنوات)');
  check(await age.evaluate((el) => el === document.activeElement), "the new child's age does not have the focus");
  await age.selectOption('7');
  await page.getByRole('button', { name: 'أضف غرفة' }).click();
  await page.getByLabel('البالغون في الغرفة 2').selectOption('1');
  await expectLabelled(page);
  await shot('customer-rooms-editor-ar.png', { fullPage: false });
  await search(page, { city: city ?? 'riyadh', checkIn: 14 });
  const address = decodeURIComponent(page.url());
  check(address.includes('occupancy=2,1') && address.includes('children=1:7'), `the search asked for other rooms: ${address}`);
  // The editor keeps the rooms after the search.
  check(await page.getByLabel('عمر الطفل 1 في الغرفة 1 (بالسنوات)').inputValue() === '7', 'the rooms were not kept');

  // Each offer shows a line per room; the room with a child of 7 costs more.
  const offer = page.locator('.offer').first();
  const lines = await offer.locator('.room-lines li').allTextContents();
  check(lines.length === 2, `not a line per room: ${lines}`);
  check(lines[0].startsWith('الغرفة 1: بالغان، طفل واحد (7)'), `room 1 reads ${lines[0]}`);
  check(lines[1].startsWith('الغرفة 2: بالغ واحد'), `room 2 reads ${lines[1]}`);
  check(amount(lines[0]) > amount(lines[1]), `the child's room is not dearer: ${lines}`);
  if (city) {
    check((await offer.locator('.left').textContent()).trim() === 'غرفتان متبقيتان', 'the offer does not say two are left');
    check(lines[0].includes('1,020.00'), `room 1 is not 2 nights of 450.00 and a child of 7 at 60.00: ${lines[0]}`);
  }
  await shot('customer-two-rooms-results-ar.png');

  // Book it: each room's lead guest, the customer's name first.
  await offer.getByRole('button', { name: 'احجز' }).click();
  const dialog = page.getByRole('dialog', { name: 'باسم من تُحجز كل غرفة؟' });
  await dialog.waitFor();
  await expectLabelled(page);
  const second = dialog.getByLabel('الضيف الرئيسي في الغرفة 2');
  check(await dialog.getByLabel('الضيف الرئيسي في الغرفة 1').inputValue() === 'ليلى القحطاني', "room 1 is not under the customer's name");
  await second.fill('');
  await dialog.getByRole('button', { name: 'احجز الغرف' }).click();
  check(await second.getAttribute('aria-invalid') === 'true', 'an empty lead guest is not marked');
  await second.fill('نورة القحطاني');
  await shot('customer-lead-guests-ar.png', { fullPage: false });
  await dialog.getByRole('button', { name: 'احجز الغرف' }).click();
  await page.waitForURL(/#\/booking\//);
  await waitForStatus(page, 'held');
  const booked = await page.locator('.booked-rooms li').allTextContents();
  check(booked.length === 2, `the booking does not list two rooms: ${booked}`);
  check(booked[0].includes('الغرفة 1: بالغان، طفل واحد (7)') && booked[0].includes('ليلى القحطاني'), `room 1 on the booking: ${booked[0]}`);
  check(booked[1].includes('الغرفة 2: بالغ واحد') && booked[1].includes('نورة القحطاني'), `room 2 on the booking: ${booked[1]}`);
  await shot('customer-two-rooms-booking-ar.png');

  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.locator('.booked-rooms li', { hasText: 'Room 1: 2 adults, 1 child (7) — Lead guest: ليلى القحطاني' }).waitFor();
  await page.locator('.booked-rooms li', { hasText: 'Room 2: 1 adult — Lead guest: نورة القحطاني' }).waitFor();
  await shot('customer-two-rooms-booking-en.png');
}

// ---- (b) an agent enters a phone client, books and pays for them ----------------------
async function agentBooksForPhoneClient({ page, shot }) {
  check(agent.email && agent.password, 'set WASIT_E2E_AGENT_EMAIL and WASIT_E2E_AGENT_PASSWORD');
  const phone = `05${String(Date.now()).slice(-8)}`;
  await page.goto(`${base}/agent`);
  await expectDir(page, 'rtl', 'ar');
  await page.getByRole('heading', { name: 'دخول موظفي المكتب' }).waitFor();
  await shot('agent-login-ar.png');
  await page.getByLabel('البريد الإلكتروني').fill(agent.email);
  await page.getByLabel('كلمة المرور').fill(agent.password);
  await page.getByRole('button', { name: 'تسجيل الدخول' }).click();
  await page.getByRole('heading', { name: 'خدمة عميل' }).waitFor();

  // Nobody has this number yet: enter the client.
  await page.getByRole('textbox', { name: 'رقم الجوال', exact: true }).first().fill(phone);
  await page.getByRole('button', { name: 'بحث', exact: true }).click();
  await page.getByText('لا يوجد عميل بهذا الرقم').waitFor();
  await shot('agent-client-new-ar.png');
  await expectLabelled(page);
  const create = page.locator('form', { has: page.getByRole('heading', { name: 'إضافة عميل جديد' }) });
  await create.getByLabel('الاسم الكامل').fill('محمد العتيبي');
  await create.getByRole('button', { name: 'حفظ العميل' }).click();
  await page.getByRole('heading', { name: 'الحجز للعميل: محمد العتيبي' }).waitFor();

  // A cardiology appointment for them, paid by the card they read out.
  await search(page, { kind: 'hospital', city: 'riyadh' });
  check(await page.locator('.offer .slot').count() > 10, 'hardly any appointments');
  await shot('agent-search-ar.png');
  await expectLabelled(page);
  await page.locator('.offer .slot').first().click();
  // Arabic-Indic digits are accepted; a wrong check digit is not.
  await patient(page, { name: 'محمد العتيبي', idNumber: '١٠٠٠٠٠٠٠٠٨', firstTry: '1000000009', shot });
  await page.waitForURL(/#\/booking\//);
  await waitForStatus(page, 'held');
  check((await page.locator('.facts').first().textContent()).includes('الهاتف'), 'the booking is not marked as a phone booking');
  check((await page.locator('.facts dd.patient').textContent()).includes('محمد العتيبي'), 'the booking does not show its patient');
  await card(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  await waitForStatus(page, 'confirmed');
  check(await page.locator('.timeline li', { hasText: 'أنت' }).count() > 0, 'the history does not show the agent');
  await shot('agent-booking-confirmed-ar.png');

  // Another, with a card that needs 3-D Secure: the bank's page opens in its own window
  // and the console follows the payment until it settles.
  await page.getByRole('link', { name: 'العميل على الخط' }).click();
  await page.getByRole('textbox', { name: 'رقم الجوال', exact: true }).first().fill(phone);
  await page.getByRole('button', { name: 'بحث', exact: true }).click();
  await page.getByRole('link', { name: 'اختيار' }).click();
  await search(page, { kind: 'hospital', city: 'riyadh' });
  await page.locator('.offer .slot').nth(1).click();
  await patient(page, { name: 'محمد العتيبي', idNumber: '1000000008' });
  await waitForStatus(page, 'held');
  await card(page, '4000 0027 6000 3184');
  const bankWindow = page.context().waitForEvent('page');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  const bank = await bankWindow;
  await bank.getByRole('button', { name: /Approve/ }).click();
  await page.locator('#main').getByText('تم التحقق من البطاقة ونجح الدفع.').waitFor();
  await waitForStatus(page, 'confirmed');
  check(bank.isClosed(), "the bank's window was left open");

  // The client's page lists them; the same number finds them.
  await page.getByRole('link', { name: 'العميل على الخط' }).click();
  await page.getByRole('textbox', { name: 'رقم الجوال', exact: true }).first().fill(phone);
  await page.getByRole('button', { name: 'بحث', exact: true }).click();
  await page.getByRole('link', { name: 'اختيار' }).click();
  await page.locator('table.bookings tbody tr').nth(1).waitFor();

  // Two hotel rooms for the client, one adult each: both start under the client's name.
  await page.getByRole('button', { name: 'أضف غرفة' }).click();
  await page.getByLabel('البالغون في الغرفة 1').selectOption('1');
  await search(page, { checkIn: 20 });
  check(await page.locator('.offer').first().locator('.room-lines li').count() === 2, 'the offer has no line per room');
  await page.locator('.offer').first().getByRole('button', { name: 'احجز' }).click();
  const leads = page.getByRole('dialog', { name: 'باسم من تُحجز كل غرفة؟' });
  check(await leads.getByLabel('الضيف الرئيسي في الغرفة 2').inputValue() === 'محمد العتيبي', "the room is not under the client's name");
  await leads.getByLabel('الضيف الرئيسي في الغرفة 2').fill('سعد العتيبي');
  await leads.getByRole('button', { name: 'احجز الغرف' }).click();
  await waitForStatus(page, 'held');
  const rooms = await page.locator('.booked-rooms li').allTextContents();
  check(rooms.length === 2 && rooms[0].includes('محمد العتيبي') && rooms[1].includes('سعد العتيبي'), `the client's rooms: ${rooms}`);
  await shot('agent-two-rooms-booking-ar.png');

  // The queues.
  for (const [name, file] of [['بانتظار التأكيد', 'agent-pending-ar.png'], ['الحجوزات الفاشلة', null], ['بحاجة إلى متابعة', null], ['حجوزات اليوم', null]]) {
    await page.getByRole('navigation').getByRole('link', { name }).click();
    await page.getByRole('heading', { name, level: 1 }).waitFor();
    await page.locator('.table-status .loading').waitFor({ state: 'detached' });
    if (file) await shot(file);
  }

  // A booking its provider is slow to confirm: ask again from the pending list.
  const slow = process.env.WASIT_E2E_PENDING_REFERENCE;
  if (slow) {
    await page.getByRole('navigation').getByRole('link', { name: 'بانتظار التأكيد' }).click();
    const row = page.locator(`tr[data-reference="${slow}"]`);
    await row.getByRole('button', { name: 'أعد طلب التأكيد' }).click();
    await page.locator('#main').getByText(`أُعيد طلب التأكيد من المزوّد للحجز ${slow}`).waitFor();
    await row.getByRole('link', { name: slow }).click();
    await waitForStatus(page, 'confirmed');
    await shot('agent-retried-booking-ar.png');

    // The client asks to arrive a day later: the agent moves the stay, same room.
    const room = (await page.locator('dd.unit').textContent()).trim();
    await page.getByRole('button', { name: 'تغيير الحجز' }).click();
    const changing = page.getByRole('dialog');
    await changing.getByLabel(/^تاريخ الوصول/).fill(day(11));
    await changing.getByLabel(/^تاريخ المغادرة/).fill(day(13));
    await changing.getByRole('button', { name: 'اعرض الخيارات' }).click();
    await changing.locator('.change-option', { hasText: room }).first().getByRole('button', { name: 'اختر هذا' }).click();
    await changing.getByLabel('سبب التغيير (اختياري)').fill('طلب العميل بالهاتف');
    await changing.getByRole('button', { name: 'أكّد التغيير' }).click();
    await page.locator('#main .alert.success', { hasText: 'تم تغيير الحجز' }).waitFor();
    const checkIn = await page.locator('.facts time').first().getAttribute('datetime');
    check(new Date(checkIn) >= new Date(`${day(11)}T00:00:00+03:00`), `the stay did not move: ${checkIn}`);
    await page.locator('.timeline li', { hasText: 'طلب العميل بالهاتف' }).waitFor();
    await shot('agent-changed-booking-ar.png');
  }

  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.getByRole('heading', { name: 'History' }).waitFor();
  await shot('agent-booking-en.png');
  await page.getByRole('link', { name: 'Client on the line' }).click();
  await page.getByRole('heading', { name: 'Serve a client' }).waitFor();
  await shot('agent-client-en.png');
}

// ---- (c) the language toggle flips direction and text, and is remembered -------------
async function languageToggle({ page, shot }) {
  await page.goto(`${base}/`);
  await expectDir(page, 'rtl', 'ar');
  await page.getByRole('heading', { name: 'ابحث عن فندق أو موعد طبي' }).waitFor();
  check(await page.getByRole('link', { name: 'حجوزاتي' }).isVisible(), 'Arabic navigation missing');

  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.getByRole('heading', { name: 'Find a hotel or a hospital appointment' }).waitFor();
  check(await page.getByRole('link', { name: 'My bookings' }).isVisible(), 'English navigation missing');
  check(await page.getByLabel('Check-in').isVisible(), 'English labels missing');
  await shot('toggle-search-en.png');

  await page.reload();
  await expectDir(page, 'ltr', 'en');
  await page.getByRole('heading', { name: 'Find a hotel or a hospital appointment' }).waitFor();

  await page.getByRole('button', { name: 'العربية' }).click();
  await expectDir(page, 'rtl', 'ar');
  await page.getByRole('heading', { name: 'ابحث عن فندق أو موعد طبي' }).waitFor();
  await shot('toggle-search-ar.png');

  // Every key the code asks for exists in both languages.
  const dictionaries = await page.evaluate(async () => {
    const { DICTIONARIES } = await import('/assets/i18n.js');
    return { ar: Object.keys(DICTIONARIES.ar), en: Object.keys(DICTIONARIES.en) };
  });
  const onlyAr = dictionaries.ar.filter((k) => !dictionaries.en.includes(k));
  const onlyEn = dictionaries.en.filter((k) => !dictionaries.ar.includes(k));
  check(!onlyAr.length && !onlyEn.length, `keys in one language only: ${[...onlyAr, ...onlyEn]}`);
  const assets = path.join(root, 'src/web/assets');
  const used = new Set();
  for (const file of (await readdir(assets)).filter((f) => f.endsWith('.js') || f.endsWith('.html'))) {
    const source = await readFile(path.join(assets, file), 'utf8');
    for (const match of source.matchAll(/\bt\('([a-z0-9_.-]+)'/g)) used.add(match[1]);
    for (const match of source.matchAll(/data-i18n(?:-label)?="([a-z0-9_.-]+)"/g)) used.add(match[1]);
  }
  const missing = [...used].filter((key) => !dictionaries.ar.includes(key));
  check(!missing.length, `keys used but not translated: ${missing}`);

  // The server side of it: headers, and an unknown asset as a problem.
  const home = await page.request.get(`${base}/`);
  const csp = home.headers()['content-security-policy'] ?? '';
  check(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `CSP: ${csp}`);
  const missingAsset = await page.request.get(`${base}/assets/nope.js`);
  check(missingAsset.status() === 404, `unknown asset answered ${missingAsset.status()}`);
  check((await missingAsset.json()).code === 'route.not_found', 'unknown asset is not a route.not_found problem');

  // The keyboard: on a fresh page the first Tab reaches the skip link.
  await page.goto(`${base}/`);
  await page.locator('form[role=search]').waitFor();
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.classList.contains('skip')), 'Tab does not reach the skip link first');

  // Phone width: nothing spills sideways, in either direction.
  const phone = await open('phone', { viewport: { width: 390, height: 844 } });
  try {
    for (const language of ['ar', 'en']) {
      await phone.page.goto(`${base}/`);
      if (language === 'en') {
        await phone.page.getByRole('button', { name: 'English' }).click();
        await expectDir(phone.page, 'ltr', 'en');
      }
      await phone.page.locator('form[role=search]').waitFor();
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `the page is ${overflow}px wider than a phone (${language})`);
      await phone.page.screenshot({ path: path.join(shots, `phone-search-${language}.png`), fullPage: true });
      console.log(`  screenshot phone-search-${language}.png`);
    }
    check(!phone.problems.length, phone.problems.join('\n'));
  } finally {
    await phone.context.close();
  }
}

// ---- (d) a customer confirms their email from the banner's mail, forgets the password
//      and sets a new one from the mailed link -------------------------------------------
/** The newest link to `#/<page>` mailed to `to`, read from maildev's API. */
async function mailedLink(to, page) {
  const maildev = (process.env.WASIT_TEST_MAILDEV_URL ?? '').replace(/\/$/, '');
  check(maildev, 'set WASIT_TEST_MAILDEV_URL (scripts/test starts maildev and sets it)');
  const pattern = new RegExp(`https?://\\S+#/${page}\\?token=[A-Za-z0-9_-]+`);
  for (let attempt = 0; attempt < 60; attempt++) {
    const mails = await (await fetch(`${maildev}/api/email`)).json();
    const link = mails
      .filter((m) => m.to?.some((a) => a.address === to))
      .map((m) => m.text?.match(pattern)?.[0])
      .filter(Boolean)
      .pop();
    if (link) return link;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no ${page} mail reached ${to}`);
}

async function accountLinks({ page, shot }) {
  const email = `noura-${Date.now()}@example.com`;
  const newPassword = 'a brand new passphrase';
  await page.goto(`${base}/#/signup`);
  await page.getByLabel('الاسم الكامل').fill('نورة العتيبي');
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByLabel('كلمة المرور').fill(PASSWORD);
  await page.getByRole('button', { name: 'إنشاء الحساب' }).click();
  const banner = page.locator('#account-banner');
  await banner.getByText('أكّد بريدك الإلكتروني.').waitFor();
  check((await banner.textContent()).includes(email), 'the banner names the address');
  await shot('customer-verify-banner-ar.png', { fullPage: false });

  // The mailed link confirms the address: the banner goes.
  await page.goto(await mailedLink(email, 'verify-email'));
  await page.locator('#main').getByText('تم تأكيد بريدك الإلكتروني.').waitFor();
  await banner.waitFor({ state: 'hidden' });

  // Forgot password, from the log-in form.
  await page.getByRole('button', { name: 'تسجيل الخروج' }).click();
  await page.locator('.user').getByRole('link', { name: 'تسجيل الدخول' }).click();
  await page.getByRole('link', { name: 'نسيت كلمة المرور؟' }).click();
  await page.getByRole('heading', { name: 'نسيت كلمة المرور؟' }).waitFor();
  await expectLabelled(page);
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByRole('button', { name: 'أرسل الرابط' }).click();
  await page.locator('#main .alert.success').waitFor();
  await shot('customer-forgot-sent-ar.png', { fullPage: false });

  // The mailed link opens the form for a new password; then log in with it.
  await page.goto(await mailedLink(email, 'reset-password'));
  await page.getByRole('heading', { name: 'اختر كلمة مرور جديدة' }).waitFor();
  await shot('customer-reset-ar.png', { fullPage: false });
  await page.getByLabel('كلمة المرور الجديدة').fill(newPassword);
  await page.getByRole('button', { name: 'احفظ كلمة المرور' }).click();
  await page.getByText('تم تغيير كلمة المرور. سجّل الدخول بكلمة المرور الجديدة.').waitFor();
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByLabel('كلمة المرور').fill(newPassword);
  await page.locator('#main').getByRole('button', { name: 'تسجيل الدخول' }).click();
  await page.getByText('أهلاً، نورة العتيبي').waitFor();

  // The same pages in English; a used link says so.
  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.goto(`${base}/#/forgot`);
  await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
  await shot('customer-forgot-en.png', { fullPage: false });
  await page.goto(await mailedLink(email, 'reset-password'));
  await page.getByRole('textbox', { name: 'New password' }).fill('yet another passphrase');
  await page.getByRole('button', { name: 'Save the password' }).click();
  await page.getByText('This link is invalid, has expired or was already used.').waitFor();
}


// ---- #19 point 2: a real confirmation, in both languages ------------------------------
/** The confirmed booking's receipt: address, times, the two amounts, the terms, the mail, the links. */
async function checkConfirmation(page, { email, address, total }) {
  const panel = page.locator('.confirmation');
  await panel.waitFor();
  check(/^WS-[0-9A-Z]{6}$/.test((await panel.locator('.confirm-reference .reference').textContent()).trim()), 'no large reference');
  check((await panel.locator('.confirm-address').textContent()).includes(address), `the address is not shown: ${await panel.locator('.confirm-address').textContent()}`);
  check((await panel.locator('.confirm-email').textContent()).includes(email), 'the page does not say where the email went');
  const paid = amount(await panel.locator('.confirm-paid').textContent());
  const atProvider = amount(await panel.locator('.confirm-at-provider').textContent());
  check(Math.abs(paid + atProvider - total) < 0.005, `paid ${paid} + at the provider ${atProvider} is not the total ${total}`);
  check(await panel.locator('.confirm-terms li').count() > 0, 'no cancellation terms');
  check(!(await panel.locator('.facts').textContent()).includes('00:00'), 'a stay reads 00:00');
  return { paid, atProvider };
}

/** The mail to `to` with `subject`, read from maildev's API (the worker sends it shortly). */
async function mailed(to, subject) {
  const maildev = (process.env.WASIT_TEST_MAILDEV_URL ?? '').replace(/\/$/, '');
  for (let attempt = 0; attempt < 60; attempt++) {
    const mails = await (await fetch(`${maildev}/api/email`)).json();
    const found = mails.find((m) => m.to?.some((a) => a.address === to) && m.subject === subject);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no mail "${subject}" reached ${to}`);
}

async function confirmationReceipt({ page, shot }) {
  const email = `huda-${Date.now()}@example.com`;
  await page.goto(`${base}/#/signup`);
  await page.getByLabel('الاسم الكامل').fill('هدى الشمري');
  await page.getByLabel('البريد الإلكتروني').fill(email);
  await page.getByLabel('كلمة المرور').fill(PASSWORD);
  await page.getByRole('button', { name: 'إنشاء الحساب' }).click();
  await page.getByText('أهلاً، هدى الشمري').waitFor();
  // Booking mail waits for a verified address: open the mailed link first.
  await page.goto(await mailedLink(email, 'verify-email'));
  await page.locator('#main').getByText('تم تأكيد بريدك الإلكتروني.').waitFor();

  // A clinic paid at the reception: our fee now, the doctor's price at the hospital.
  await page.getByRole('link', { name: 'ابحث واحجز' }).click();
  await search(page, { kind: 'hospital', city: 'riyadh' });
  await page.locator('.offer .slot').last().click();
  await patient(page, { name: 'هدى الشمري', idNumber: '1000000008' });
  await waitForStatus(page, 'held');
  await card(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: /^ادفع/ }).click();
  await waitForStatus(page, 'confirmed');
  const total = amount(await page.locator('.price tfoot td').first().textContent());
  const clinic = await checkConfirmation(page, { email, address: 'طريق الملك فهد', total });
  check(clinic.atProvider > 0 && clinic.paid < total, `a clinic paid at the reception shows nothing due there: ${JSON.stringify(clinic)}`);
  check(await page.locator('.confirmation .confirm-appointment bdi.clock').count() === 2, 'the appointment time is missing');
  await shot('19-2-confirmation-clinic-ar.png');
  // The confirmation email is the same receipt, numbers isolated inside the Arabic.
  const reference = (await page.locator('.confirm-reference .reference').textContent()).trim();
  const mail = await mailed(email, `تم تأكيد حجزك ${reference}`);
  const due = `${clinic.atProvider.toFixed(2)} SAR`;
  for (const part of [`تدفعه لدى مقدم الخدمة: \u2066${due}\u2069`, 'العنوان: طريق الملك فهد', 'شروط الإلغاء', ' هـ)']) {
    check(mail.text.includes(part), `the confirmation email lacks ${part}: ${mail.text}`);
  }
  check(mail.html.includes(`<bdi dir="ltr">${due}</bdi>`) && mail.html.includes('dir="rtl"'), 'the HTML email does not isolate amounts');

  // The invoice opens; the calendar entry downloads, at the address.
  await page.locator('.confirmation').getByRole('button', { name: 'الفاتورة' }).click();
  const invoice = page.getByRole('dialog');
  await invoice.locator('iframe').waitFor();
  await invoice.getByRole('button', { name: 'إغلاق' }).click();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('.confirmation').getByRole('button', { name: 'أضف إلى التقويم' }).click(),
  ]);
  check(download.suggestedFilename().endsWith('.ics'), `the calendar file is ${download.suggestedFilename()}`);
  const ics = await readFile(await download.path(), 'utf8');
  check(ics.includes('LOCATION:طريق الملك فهد') && ics.includes('STATUS:CONFIRMED'), `the calendar entry: ${ics}`);

  await page.getByRole('button', { name: 'English' }).click();
  await expectDir(page, 'ltr', 'en');
  await page.getByRole('heading', { name: 'Your booking is confirmed' }).waitFor();
  await checkConfirmation(page, { email, address: 'King Fahd Road', total });
  check((await page.locator('.confirm-amounts').textContent()).includes('Pay at the provider'), 'no English amount labels');
  await shot('19-2-confirmation-clinic-en.png');

  // A hotel stay, prepaid: its days with the hotel's check-in and check-out times.
  await page.getByRole('link', { name: 'Search & book' }).click();
  await search(page, { city: 'makkah', checkIn: 20 });
  await page.locator('.offer').first().getByRole('button', { name: /^Book/ }).click();
  await waitForStatus(page, 'held');
  await card(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: /^Pay/ }).click();
  await waitForStatus(page, 'confirmed');
  const stay = amount(await page.locator('.price tfoot td').first().textContent());
  const hotel = await checkConfirmation(page, { email, address: 'Makkah', total: stay });
  check(hotel.atProvider === 0, 'a prepaid stay shows an amount due at the hotel');
  check((await page.locator('.confirm-check-in bdi.clock').textContent()) === '15:00', 'no check-in time');
  check((await page.locator('.confirm-check-out bdi.clock').textContent()) === '12:00', 'no check-out time');
  await shot('19-2-confirmation-hotel-en.png');
  await page.getByRole('button', { name: 'العربية' }).click();
  await expectDir(page, 'rtl', 'ar');
  await page.getByRole('heading', { name: 'تم تأكيد حجزك' }).waitFor();
  await checkConfirmation(page, { email, address: 'مكة المكرمة', total: stay });
  check((await page.locator('.confirm-check-in').textContent()).includes('من الساعة'), 'no Arabic check-in time');
  await shot('19-2-confirmation-hotel-ar.png');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('19-2-confirmation-hotel-ar-390.png');
}

const scenarios = [
  ['a customer signs up, searches, books and pays (3-D Secure too)', customerJourney],
  ['an agent enters a phone client, books and pays for them', agentBooksForPhoneClient],
  ['the language toggle flips direction and text', languageToggle],
  ['a customer confirms their email and resets a forgotten password from mailed links', accountLinks],
  ['a customer books two rooms, each with its guests and lead guest', twoRooms],
  ['a confirmed booking reads as a receipt in both languages (#19, point 2)', confirmationReceipt],
];

let passed = 0;
let failed = 0;
for (const [title, scenario] of scenarios) {
  const started = Date.now();
  const session = await open(scenario.name);
  console.log(`- ${title}`);
  try {
    await scenario(session);
    check(!session.problems.length, `the page reported errors:\n${session.problems.join('\n')}`);
    passed += 1;
    console.log(`ok - ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.log(`  ${String(error.stack ?? error).split('\n').join('\n  ')}`);
    if (session.problems.length) console.log(`  page errors:\n  ${session.problems.join('\n  ')}`);
    console.log(`  at ${session.page.url()}`);
    await session.page.screenshot({ path: path.join(shots, `FAILED-${scenario.name}.png`), fullPage: true }).catch(() => {});
  } finally {
    await session.context.close();
  }
}
await browser.close();
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
