// Accessibility, checked by a machine (#19 point 7): axe-core's WCAG 2.0, 2.1 and 2.2 A/AA
// rules on every page state the e2e run photographs, in whichever language it shows. Each
// report is saved beside its screenshot (axe-<shot>.json); a serious or critical violation
// fails the scenario.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const BLOCKING = new Set(['serious', 'critical']);

/** Audits the page as it stands; returns one line per serious or critical violation. */
export async function audit(page, shotFile, dir) {
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const report = {
    url: page.url(),
    lang: await page.evaluate(() => document.documentElement.lang),
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
    })),
    passes: results.passes.length,
  };
  const name = `axe-${shotFile.replace(/\.png$/, '')}.json`;
  await writeFile(path.join(dir, name), JSON.stringify(report, null, 2));
  return report.violations
    .filter((v) => BLOCKING.has(v.impact))
    .map((v) => `${shotFile} [${report.lang}]: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
