// A real browser on the gateway's page: Debian's chromium, driven by playwright-core (which
// downloads no browser). The page loads, draws candles and volume bars that arrive live, shows
// the candle under the cursor with the moving average there, the recent trades and the data's
// own clock, the order book's ladder and depth chart, switches symbol and interval, keeps going through a gateway restart, fits a
// phone-sized screen, and its screenshot is not blank.
//   node tests/clients/browser_test.mjs --build <build dir> --source <source dir> [--screenshot <png>]
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { args, check, coingeckoStandIn, eventually, pipeline, trxFrames, workDir } from './harness.mjs';

const a = args();
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const p = await pipeline(a);
const coingecko = await coingeckoStandIn(a.source);
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  // History first: the XRP/ETH replay, as fast as it goes; the tickers from the stand-in.
  const tickers = p.coingecko({ COINGECKO_URL: coingecko.url, COINGECKO_TOP_N: '10', COINGECKO_POLL_INTERVAL_S: '3600' });
  const xrp = p.producer({ REPLAY_FILE: path.join(a.source, 'tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl') });
  check((await xrp.exited) === 0, 'the XRP/ETH replay is delivered');

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // One look at the page waits 10 s at most (Playwright's 30 s would use up a whole `eventually`
  // in one try on a loaded machine); `eventually` tries again.
  page.setDefaultTimeout(10000);
  const problems = [];
  // While the gateway restarts (below) the page's requests fail at the network level, which
  // Chromium logs as "Failed to load resource: net::ERR_..." (and the trades stream's reconnect
  // as "WebSocket connection to '...' failed"); that is the outage the page must survive, not a
  // fault of the page. Everything else counts, then too.
  let restarting = false;
  const outage = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (restarting && /^(Failed to load resource: net::ERR_|WebSocket connection to '\S+' failed)/.test(m.text())) outage.push(m.text());
    else problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`); });
  const summary = () => page.locator('#summary').innerText();
  const count = async () => Number((/^TRXUSDT 1m · (\d+) candles/.exec(await summary()) || [])[1] || 0);
  // A link to TRXUSDT opened before the gateway holds anything of it: the page waits for it,
  // rather than showing another symbol under that address.
  await page.goto(p.url('/#TRXUSDT/1m'));
  await eventually('the page waits for TRXUSDT', async () => (await summary()).startsWith("waiting for TRXUSDT's first candles"), 20000);
  check(true, `the page waits for the linked symbol: ${await summary()}`);
  // Then live: 48 minutes of TRX/USDT trades of 2025-03-04 at 20x real time (a minute of
  // trades every 3 s, for 2.4 min).
  const trx = p.producer({ REPLAY_FILE: trxFrames(a.source), REPLAY_SPEED: '20' });

  // Live: the chart of TRXUSDT 1m gains candles while the page stays open.
  await eventually('TRXUSDT candles on the page', async () => (await count()) >= 3, 60000);
  const before = await count();
  const lastBefore = await summary();
  await eventually('more TRXUSDT candles arrive live', async () => (await count()) >= before + 5, 60000);
  check(true, `the chart drew live candles: ${before} -> ${await count()} (${lastBefore} -> ${await summary()})`);
  check(await page.locator('#connection').innerText() === 'live', 'the connection badge says live');

  // The chart canvas is drawn: many colours, not a blank rectangle.
  const colours = async () => page.evaluate(() => {
    let best = 0;
    for (const c of document.querySelectorAll('#chart canvas')) {
      if (!c.width || !c.height) continue;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < data.length; i += 16) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      best = Math.max(best, seen.size);
    }
    return best;
  });
  check((await colours()) >= 8, `the chart canvas is drawn (${await colours()} colours)`);

  // Volume bars: pixels of their two colours (opaque, used by nothing else), in the bottom fifth
  // of the chart, under the candles.
  const volumeBars = async () => page.evaluate(() => {
    let n = 0, top = 1;
    for (const c of document.querySelectorAll('#chart canvas')) {
      if (!c.width || !c.height) continue;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < data.length; i += 4) {
        const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        if (rgb !== 0x1f5f59 && rgb !== 0x7a3436) continue;
        n++;
        top = Math.min(top, Math.floor(i / 4 / c.width) / c.height);
      }
    }
    return { n, top };
  });
  const bars = await volumeBars();
  check(bars.n > 100 && bars.top >= 0.7, `volume bars are drawn under the candles (${bars.n} pixels, from ${(bars.top * 100).toFixed(0)}% down)`);

  // The recent trades: the gateway's aggregate trades of TRXUSDT, newest first, growing live.
  await eventually('the trades tape', async () => (await page.locator('#trades tbody tr').count()) >= 10, 30000);
  const tapeIds = async () => page.locator('#trades tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
  const firstIds = await tapeIds();
  await eventually('new trades on the tape', async () => (await tapeIds())[0] > firstIds[0], 30000);
  const rows = await page.locator('#trades tbody tr').evaluateAll((rs) =>
    rs.map((r) => ({ a: Number(r.dataset.id), cells: [...r.cells].map((td) => td.textContent) })));
  const recent = await (await fetch(p.url('/binance/api/v3/aggTrades?symbol=TRXUSDT&limit=1000'))).json();
  const byId = new Map(recent.map((t) => [t.a, t]));
  const wrong = rows.filter((r) => !byId.has(r.a) || byId.get(r.a).p !== r.cells[1] || byId.get(r.a).q !== r.cells[2] ||
    new Date(byId.get(r.a).T).toISOString().slice(11, 23) !== r.cells[0]);
  check(rows.length === 30 && wrong.length === 0 && rows.every((r, i) => i === 0 || r.a < rows[i - 1].a),
    `the trades tape: the gateway's aggTrades, newest first (${rows[0].cells.join(' ')} ... ${wrong.length} differ)`);

  // The data's own clock: the replay's trades are of 2025-03-04, far behind the wall clock.
  const dataTime = await page.locator('#data-time').innerText();
  const dataLag = await page.locator('#data-lag').innerText();
  check(/^2025-03-04 \d\d:\d\d:\d\d UTC$/.test(dataTime) && /(days|years)$/.test(dataLag),
    `the data clock: newest trade ${dataTime}, ${dataLag} behind the wall clock`);

  // The tickers table: coins in usd and eur, with the 24 h change.
  await eventually('tickers in the table', async () => (await page.locator('#tickers tbody tr').count()) >= 10, 30000);
  const firstRow = await page.locator('#tickers tbody tr').first().innerText();
  check(/Bitcoin\s+16951\.52\s+15595\.398\s+0\.14 %/.test(firstRow), `the first ticker row is Bitcoin in usd and eur: ${firstRow}`);
  await eventually('the pipeline panel', async () => (await page.locator('#trades-rate').innerText()) !== '–', 10000);

  // Switch symbol, then interval: the chart shows the other series.
  await page.selectOption('#symbol', 'XRPETH');
  await eventually('XRPETH on the page', async () => (await summary()).startsWith('XRPETH 1m · '), 20000);
  await page.selectOption('#interval', '5m');
  // What the page shows is what the API holds: the newest 1,500 windows (the replay's 712 traded
  // 5-minute windows and the empty ones up to the live TRX trades' time) and the last close.
  const api = await (await fetch(p.url('/v1/candles?symbol=XRPETH&interval=5m&limit=1500'))).json();
  const newest = api.candles[api.candles.length - 1];
  check(api.candles.length >= 712, `the API holds XRPETH 5m candles (${api.candles.length})`);
  await eventually(`XRPETH 5m, ${api.candles.length} candles, close ${newest.close}`, async () => {
    const s = await summary();
    return s.startsWith(`XRPETH 5m · ${api.candles.length} candles`) && s.endsWith(`close ${newest.close}`);
  }, 20000);
  check(true, `switched: ${await summary()}`);
  check(page.url().endsWith('#XRPETH/5m'), 'the address keeps the choice');

  // The cursor: the line above the chart shows the O/H/L/C/V of the candle under it as the API
  // holds it, and the moving average of the 20 closes up to it; it follows the mouse.
  const hover = async (x) => {
    const box = await page.locator('#chart').boundingBox();
    await page.mouse.move(box.x + box.width * x, box.y + box.height * 0.4, { steps: 4 });
    await page.waitForTimeout(200);
    const at = Number(await page.locator('#ohlc').getAttribute('data-time'));
    const legend = await page.locator('#ohlc').innerText();
    const held = (await (await fetch(p.url(`/v1/candles?symbol=XRPETH&interval=5m&end=${at}&limit=20`))).json()).candles;
    const c = held[held.length - 1];
    const ma = (held.reduce((sum, k) => sum + Number(k.close), 0) / 20).toPrecision(8);
    check(c.start === at && held.length === 20 && legend.includes(`O ${c.open}`) && legend.includes(`H ${c.high}`) &&
      legend.includes(`L ${c.low}`) && legend.includes(`C ${c.close}`) && legend.includes(`V ${c.volume}`) &&
      legend.includes(`MA(20) ${ma}`), `the cursor legend at ${Math.round(x * 100)}% shows the candle under it: ${legend}`);
    return at;
  };
  const left = await hover(0.3);
  const right = await hover(0.6);
  check(right > left && right !== newest.start, `the legend follows the mouse (${left} -> ${right})`);

  // The order book: cryptofeed's recorded spot depth stream replayed with its snapshots. NKNUSDT's
  // ladder holds the gateway's best 10 levels a side, digit for digit, and the depth chart is drawn.
  const cryptofeed = path.join(a.source, 'tests/fixtures/cryptofeed');
  check((await p.producer({ REPLAY_FILE: path.join(cryptofeed, 'BINANCE.ws.1.0'),
    REPLAY_DEPTH_SNAPSHOTS: path.join(cryptofeed, 'BINANCE.http.0.0') }).exited) === 0,
  'the recorded spot depth stream is replayed with its snapshots');
  check((await page.locator('#book-state').innerText()) === 'no order book for this symbol',
    'a symbol without a book says so (XRPETH)');
  await eventually('NKNUSDT in the picker', async () => (await page.locator('#symbol option[value="NKNUSDT"]').count()) === 1, 60000);
  await page.selectOption('#symbol', 'NKNUSDT');
  const depth = await (await fetch(p.url('/binance/api/v3/depth?symbol=NKNUSDT&limit=10'))).json();
  await eventually('the ladder at the book\'s last update', async () =>
    (await page.locator('#book-state').innerText()).startsWith(`update ${depth.lastUpdateId}`), 30000);
  const ladder = await page.locator('#asks tr, #bids tr').evaluateAll((rs) => rs.map((r) => [r.cells[0].textContent, r.cells[1].textContent]));
  const expected = [...depth.asks.slice().reverse(), ...depth.bids];
  check(ladder.length === 20 && ladder.every((r, i) => r[0] === expected[i][0] && r[1] === expected[i][1]),
    `the ladder shows the gateway's 10 best asks over its 10 best bids (${ladder[9]} | ${ladder[10]})`);
  const sides = await page.evaluate(() => {
    const c = document.getElementById('depth-chart');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let green = 0, red = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 1] > 120 && data[i] < 80) green += 1;
      if (data[i] > 180 && data[i + 1] < 110) red += 1;
    }
    return { green, red };
  });
  check(sides.green > 200 && sides.red > 200, `the depth chart draws both sides (${JSON.stringify(sides)} pixels)`);

  // A gateway restart: the page reconnects by itself and live candles keep coming. It goes away
  // while the page switches series, so the switch's candles fail to load (as CI once saw: the
  // change handler's promise then rejected unhandled); they come with the reconnection.
  restarting = true;
  let refused = 0;
  await page.route('**/v1/candles?*', (route) => { refused += 1; return route.abort('connectionrefused'); });
  await page.selectOption('#symbol', 'TRXUSDT');
  await page.selectOption('#interval', '1m');
  await eventually('the switch tried its candles', async () => refused >= 2, 20000);
  await page.waitForTimeout(200);  // the failed loads reach the page's handlers
  await page.unroute('**/v1/candles?*');
  await p.restartGateway();
  await eventually('back on TRXUSDT 1m', async () => (await summary()).startsWith('TRXUSDT 1m · '), 30000);
  const again = await (await fetch(p.url('/v1/candles?symbol=XRPETH&interval=5m&limit=1500'))).json();
  check(again.candles && again.candles.length === api.candles.length,
    `the restarted gateway read the replay's history back (XRPETH 5m: ${again.candles ? again.candles.length + " candles" : JSON.stringify(again)})`);
  const afterRestart = await count();
  await eventually('live candles after the restart', async () => (await count()) >= afterRestart + 3, 60000);
  await eventually('live again', async () => (await page.locator('#connection').innerText()) === 'live', 20000);
  restarting = false;
  check(true, `after the gateway restart: ${afterRestart} -> ${await count()} candles, badge live` +
    ` (${outage.length} requests failed during the restart)`);

  const shot = a.screenshot || path.join(workDir, 'gateway.png');
  const area = await page.locator('#chart').boundingBox();
  await page.mouse.move(area.x + area.width * 0.7, area.y + area.height * 0.35);  // the legend at a candle
  await page.waitForTimeout(300);
  await page.screenshot({ path: shot });
  check(fs.statSync(shot).size > 20000, `the screenshot ${shot} is not blank (${fs.statSync(shot).size} bytes)`);

  // A phone-sized screen: no sideways scrolling, the chart still drawn.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `fits a 390 px wide screen (content ${width} px)`);
  check((await colours()) >= 8, 'the chart is drawn on the phone-sized screen');

  check(problems.length === 0, `no script errors on the page${problems.length ? ': ' + problems.join('; ') : ''}`);
  await trx.stop();
  await tickers.stop();
  const codes = await p.stop();
  check(codes.gateway === 0, 'the gateway exits 0 on SIGTERM');
} catch (e) {
  console.error(e.stack || e);
  console.error(`gateway log:\n${p.gateway.tail()}\nprocessor log:\n${p.processor.tail()}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  coingecko.close();
}
process.exit(process.exitCode ?? 0);
