import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

/**
 * The HTML report of a real audit_engine before/after (test/report/*.json, saved from a demo run),
 * with one query renamed in Chinese as the first user's would be: checked as a file, then in
 * headless Chromium (Debian's package) when the machine has it.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('no Chromium here (Debian: apt-get install chromium): the browser checks of the report are skipped');

const dir = mkdtempSync(join(tmpdir(), 'report-'));
const CJK = '登录 login（按邮箱）';
const html = join(dir, 'report.html');
let page = '';
interface Cmp {
  queries: { name: string; verdict: string; before: { median: number } | null; after: { median: number } | null }[];
}
let cmp: Cmp;

beforeAll(async () => {
  for (const side of ['before', 'after']) {
    const run = JSON.parse(readFileSync(`test/report/${side}.json`, 'utf8'));
    run.queries[0].name = CJK;
    writeFileSync(join(dir, `${side}.json`), JSON.stringify(run));
  }
  const r = await runCli(['compare', join(dir, 'before.json'), join(dir, 'after.json'), '--html', html, '--json']);
  expect(r.code, r.stderr).toBe(0);
  cmp = JSON.parse(r.stdout).comparison;
  page = readFileSync(html, 'utf8');
});

const expectedSaved = () => cmp.queries.filter((q) => q.before && q.after).reduce((s, q) => s + q.before!.median - q.after!.median, 0);
const count = (v: string) => cmp.queries.filter((q) => q.verdict === v).length;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describe('pgopt compare --html', () => {
  it('is one self-contained file: no script, nothing fetched from the network, under 1 MB', () => {
    expect(page.length).toBeLessThan(1_000_000);
    expect(page).not.toMatch(/<script/i);
    expect(page).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(page).not.toMatch(/url\(\s*["']?https?:|@import/i);
  });

  it('holds every query, a chart per query, and the headline numbers of the JSON comparison', () => {
    for (const q of cmp.queries) expect(page).toContain(`data-query="${esc(q.name)}"`);
    expect(page.match(/<figure class="chart"><svg/g)).toHaveLength(cmp.queries.length);
    expect(page).toContain(`<b data-headline="faster">${count('faster')}</b>`);
    const saved = Number(/data-headline="saved">([-\d.]+) ms/.exec(page)![1]);
    expect(saved).toBeCloseTo(expectedSaved(), 0);
  });

  it('escapes what came from the runs: a query name with markup stays text', async () => {
    const run = JSON.parse(readFileSync(join(dir, 'after.json'), 'utf8'));
    const before = JSON.parse(readFileSync(join(dir, 'before.json'), 'utf8'));
    run.queries[1].name = before.queries[1].name = '<img src=x onerror=alert(1)>';
    writeFileSync(join(dir, 'b2.json'), JSON.stringify(before));
    writeFileSync(join(dir, 'a2.json'), JSON.stringify(run));
    const out = join(dir, 'x.html');
    expect((await runCli(['compare', join(dir, 'b2.json'), join(dir, 'a2.json'), '--html', out])).code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe.runIf(CHROMIUM)('the report in headless Chromium', () => {
  it('renders with no console error; the DOM, a non-blank screenshot and an A4 print hold it all', async () => {
    const puppeteer = (await import('puppeteer-core')).default;
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const tab = await browser.newPage();
      const problems: string[] = [];
      tab.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      tab.on('pageerror', (e) => problems.push(String(e)));
      tab.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      await tab.setViewport({ width: 1100, height: 900 });
      await tab.goto(`file://${html}`, { waitUntil: 'load' });
      expect(problems).toEqual([]);
      const names = await tab.$$eval('section.query', (els) => els.map((e) => (e as HTMLElement).dataset.query));
      expect(names).toEqual(cmp.queries.map((q) => q.name));
      expect(names[0]).toBe(CJK);
      expect(await tab.$$eval('section.query figure.chart svg', (els) => els.length)).toBe(cmp.queries.length);
      expect(Number(await tab.$eval('[data-headline="faster"]', (e) => e.textContent))).toBe(count('faster'));
      // Not blank: the screenshot has many colours; a blank page (the control) has one.
      const colours = async (png: string) => {
        const probe = await browser.newPage();
        await probe.setContent(`<img id="i" src="data:image/png;base64,${png}">`);
        const n = await probe.$eval('#i', async (img) => {
          const el = img as HTMLImageElement;
          await el.decode();
          const canvas = document.createElement('canvas');
          [canvas.width, canvas.height] = [el.naturalWidth, el.naturalHeight];
          const ctx = canvas.getContext('2d')!;
          ctx.drawImage(el, 0, 0);
          const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const seen = new Set<number>();
          for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
          return seen.size;
        });
        await probe.close();
        return n;
      };
      const shot = (await tab.screenshot({ fullPage: true, encoding: 'base64' })) as string;
      writeFileSync(join(dir, 'report.png'), Buffer.from(shot, 'base64'));
      expect(await colours(shot)).toBeGreaterThan(50);
      const blank = await browser.newPage();
      expect(await colours((await blank.screenshot({ encoding: 'base64' })) as string)).toBe(1);
      // A4: each query block fits a page and may not be split, so no chart is cut; the PDF is made.
      await tab.emulateMediaType('print');
      await tab.setViewport({ width: 703, height: 1032 }); // A4 less 12 mm margins, at 96 dpi
      const blocks = await tab.$$eval('section.query, figure.overview', (els) =>
        els.map((e) => ({ h: e.getBoundingClientRect().height, avoid: getComputedStyle(e).breakInside })),
      );
      for (const b of blocks) {
        expect(b.h).toBeLessThan(1032);
        expect(b.avoid).toBe('avoid');
      }
      const pdf = Buffer.from(await tab.pdf({ format: 'A4', printBackground: true }));
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(pdf.length).toBeGreaterThan(20_000);
    } finally {
      await browser.close();
    }
  });
});
