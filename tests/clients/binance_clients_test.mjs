// The calls Binance clients make after their first one, pointed at the gateway: ccxt (REST and
// ccxt.pro's WebSocket watchers), binance-api-node and Binance's own @binance/connector, pinned in
// tests/clients/package-lock.json. What they get is checked against the recorded data: the XRP/ETH
// aggregate trades Binance published (data.binance.vision), its 1m klines rolled up to hours and
// days, and a live TRXUSDT @trade stream replayed while the watchers listen.
//   node tests/clients/binance_clients_test.mjs --build <build dir> --source <source dir>
import fs from 'node:fs';
import path from 'node:path';
import ccxt from 'ccxt';
import BinanceApiNode from 'binance-api-node';
import { Spot } from '@binance/connector';
import { args, check, eventually, pipeline, trxFrames, workDir } from './harness.mjs';

const a = args();
const p = await pipeline(a, { GATEWAY_TRADES: '20000' });
const trx = trxFrames(a.source).replace(/\.jsonl$/, '');
const trxLines = fs.readFileSync(`${trx}.jsonl`, 'utf8').trim().split('\n');
fs.writeFileSync(path.join(workDir, 'trx-first.jsonl'), trxLines.slice(0, 2000).join('\n') + '\n');
fs.writeFileSync(path.join(workDir, 'trx-rest.jsonl'), trxLines.slice(2000).join('\n') + '\n');

// Binance's 1m klines rolled up as Binance rolls them up: prices from the minutes with trades.
function rollUp(klines, ms) {
  const out = new Map();
  for (const [t, o, h, l, c, v] of klines) {
    const start = Math.floor(t / ms) * ms;
    const w = out.get(start);
    if (!w) { out.set(start, { start, o, h, l, c, v: [v], n: 1, traded: v > 0 }); continue; }
    w.n += 1;
    w.v.push(v);
    if (v > 0 && !w.traded) Object.assign(w, { o, h, l, traded: true });
    else if (v > 0) { w.h = Math.max(w.h, h); w.l = Math.min(w.l, l); }
    if (v > 0 || !w.traded) w.c = c;
  }
  return out;
}
const sum = (values) => values.reduce((s, x) => s + x, 0);

try {
  const xrp = p.producer({ REPLAY_FILE: path.join(a.source, 'tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl') });
  check((await xrp.exited) === 0, 'the XRP/ETH replay is delivered');
  const klines = JSON.parse(fs.readFileSync(path.join(a.source, 'tests/fixtures/freqtrade/XRP_ETH-1m.json'), 'utf8'));
  const last = klines[klines.length - 1];
  const recorded = fs.readFileSync(path.join(a.source, 'tests/fixtures/binance-vision/XRPETH-aggTrades-2019-10-11.csv'), 'utf8')
    .trim().split('\n').slice(1).map((r) => r.split(','));

  const urls = { api: { public: p.url('/binance/api/v3'), ws: { spot: `ws://127.0.0.1:${p.gatewayPort}/binance/ws` } } };
  const options = { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false };
  const binance = new ccxt.binance({ urls, options });
  await eventually('the last XRP/ETH minute is final', async () => {
    await binance.loadMarkets(true);
    const rows = await binance.fetchOHLCV('XRP/ETH', '1m', last[0], 1);
    return rows.length === 1 && rows[0][4] === last[4];
  }, 60000);

  // Trades: ccxt's fetchTrades is Binance's aggTrades; they are the ones Binance recorded.
  const since = Number(recorded[0][5]);
  const trades = await binance.fetchTrades('XRP/ETH', since, 1000);
  const rows = recorded.filter((r) => Number(r[5]) < since + 3600000);
  const differs = rows.findIndex((r, i) => !trades[i] || trades[i].id !== r[0] || trades[i].price !== Number(r[1]) ||
    trades[i].amount !== Number(r[2]) || trades[i].timestamp !== Number(r[5]) || trades[i].side !== (r[6] === 'true' ? 'sell' : 'buy'));
  check(trades.length === rows.length && differs === -1,
    `ccxt fetchTrades: ${trades.length} aggregate trades of the first hour equal to Binance's ${rows.length}` +
    (differs === -1 ? '' : ` (first difference at ${differs}: ${recorded[differs]} vs ${JSON.stringify(trades[differs]?.info)})`));

  // Hours and days: the roll-up of Binance's 1m klines, digit for digit; weeks open on Monday.
  for (const [tf, ms] of [['1h', 3600000], ['1d', 86400000]]) {
    const expected = [...rollUp(klines, ms).values()].filter((w) => w.n === ms / 60000);
    const got = new Map((await binance.fetchOHLCV('XRP/ETH', tf, klines[0][0], 1000)).map((r) => [r[0], r]));
    const bad = expected.filter((w) => {
      const r = got.get(w.start);
      return !r || r[1] !== w.o || r[2] !== w.h || r[3] !== w.l || r[4] !== w.c || Math.abs(r[5] - sum(w.v)) > 1e-6;
    });
    check(expected.length > 0 && bad.length === 0,
      `ccxt fetchOHLCV ${tf}: ${expected.length} complete windows equal the roll-up of Binance's 1m klines` +
      (bad.length ? ` (${bad.length} differ, first ${JSON.stringify(bad[0])} vs ${JSON.stringify(got.get(bad[0].start))})` : ''));
  }
  const weeks = await binance.fetchOHLCV('XRP/ETH', '1w', undefined, 10);
  check(weeks.length === 1 && new Date(weeks[0][0]).toISOString() === '2019-10-07T00:00:00.000Z' &&
    weeks[0][1] === klines[0][1] && weeks[0][4] === last[4],
    `ccxt fetchOHLCV 1w: the week opens Monday 2019-10-07 with the first trade's price (${JSON.stringify(weeks)})`);

  const prices = await binance.fetchLastPrices(['XRP/ETH']);
  check(prices['XRP/ETH'].price === last[4], `ccxt fetchLastPrices: XRP/ETH ${prices['XRP/ETH'].price}`);

  // binance-api-node: trades (TRXUSDT is fed single trades), aggTrades from an id, avgPrice.
  const node = BinanceApiNode.default({ httpBase: p.url('/binance'), wsBase: `ws://127.0.0.1:${p.gatewayPort}/binance/ws` });
  const aggs = await node.aggTrades({ symbol: 'XRPETH', fromId: Number(recorded[0][0]), limit: 1000 });
  const aggDiffer = recorded.findIndex((r, i) => !aggs[i] || aggs[i].aggId !== Number(r[0]) || aggs[i].price !== r[1] ||
    aggs[i].quantity !== r[2] || aggs[i].firstId !== Number(r[3]) || aggs[i].lastId !== Number(r[4]) ||
    aggs[i].timestamp !== Number(r[5]) || aggs[i].isBuyerMaker !== (r[6] === 'true'));
  check(aggs.length === 1000 && aggDiffer === -1,
    `binance-api-node aggTrades: 1,000 from id ${recorded[0][0]} equal Binance's record (ids, prices, quantities, flags)`);
  // avgPrice: the quantity-weighted price of the last 300 whole seconds of XRP/ETH's trades.
  const xrpTrades = fs.readFileSync(path.join(a.source, 'tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl'), 'utf8')
    .trim().split('\n').map((l) => JSON.parse(l));
  const lastSecond = Math.floor(xrpTrades[xrpTrades.length - 1].T / 1000);
  const window = xrpTrades.filter((t) => Math.floor(t.T / 1000) > lastSecond - 300);
  const expectedAvg = sum(window.map((t) => t.p * t.q)) / sum(window.map((t) => Number(t.q)));
  const avg = await node.avgPrice({ symbol: 'XRPETH' });
  check(Math.abs(Number(avg.price) - expectedAvg) < 1e-8 && avg.mins === 5,
    `binance-api-node avgPrice: ${avg.price} (the recorded trades' ${expectedAvg.toFixed(8)})`);

  // Binance's own connector: klines and trades.
  const spot = new Spot('', '', { baseURL: p.url('/binance') });
  const k = (await spot.klines('XRPETH', '1m', { startTime: klines[0][0], limit: 3 })).data;
  check(k.length === 3 && Number(k[0][1]) === klines[0][1] && k[0][11] === '0',
    `@binance/connector klines: ${JSON.stringify(k[0])}`);
  const agg = (await spot.aggTrades('XRPETH', { fromId: Number(recorded[5][0]), limit: 2 })).data;
  check(agg.length === 2 && agg[0].a === Number(recorded[5][0]) && agg[0].p === recorded[5][1],
    `@binance/connector aggTrades: ${JSON.stringify(agg[0])}`);

  // TRXUSDT (fed single trades; its empty XRP/ETH minutes of 2025 push the 2019 ones out of the
  // held 4,000, so the XRP/ETH checks come first).
  const first = p.producer({ REPLAY_FILE: path.join(workDir, 'trx-first.jsonl') });
  check((await first.exited) === 0, 'the first 2,000 TRXUSDT trades are delivered');
  await eventually('TRX/USDT is listed', async () => (await binance.loadMarkets(true))['TRX/USDT'], 30000);
  const tickers = await binance.fetchTickers(['TRX/USDT']);
  check(tickers['TRX/USDT'].last > 0,
    `ccxt fetchTickers: TRX/USDT last ${tickers['TRX/USDT'].last}`);
  const trx2000 = JSON.parse(trxLines[1999]).data;
  const nodeTrades = await eventually('the 2,000th TRXUSDT trade is held', async () => {
    const t = await node.trades({ symbol: 'TRXUSDT', limit: 5 });
    return t.length === 5 && t[4].id === trx2000.t ? t : false;
  }, 30000);
  check(nodeTrades.length === 5 && nodeTrades[4].id === trx2000.t && nodeTrades[4].price === Number(trx2000.p).toFixed(8),
    `binance-api-node trades: the last of 5 is trade ${nodeTrades[4]?.id} at ${nodeTrades[4]?.price}`);
  // Live: ccxt.pro's watchers and binance-api-node's streams while the rest of TRXUSDT arrives.
  const pro = new ccxt.pro.binance({ urls, options });
  await pro.loadHttpProxyAgent();  // ccxt.pro asks for it before a plain ws:// URL
  await pro.loadMarkets();
  const seen = { ohlcv: 0, trades: 0, ticker: 0, tickers: 0, nodeTrades: 0, nodeAgg: 0, nodeTicker: 0 };
  let lastLiveTrade;
  const watch = async (name, fn) => { for (;;) { const r = await fn(); seen[name] += 1; if (name === 'trades') lastLiveTrade = r[r.length - 1]; } };
  for (const [name, fn] of [['ohlcv', () => pro.watchOHLCV('TRX/USDT', '1m')], ['trades', () => pro.watchTrades('TRX/USDT')],
    ['ticker', () => pro.watchTicker('TRX/USDT')], ['tickers', () => pro.watchTickers(['TRX/USDT'])]])
    watch(name, fn).catch((e) => { seen[name] = `failed: ${e}`; });
  const closers = [
    node.ws.trades(['TRXUSDT'], () => { seen.nodeTrades += 1; }),
    node.ws.aggTrades(['TRXUSDT'], () => { seen.nodeAgg += 1; }),
    node.ws.ticker('TRXUSDT', (t) => { if (t.symbol === 'TRXUSDT') seen.nodeTicker += 1; }),
  ];
  await new Promise((r) => setTimeout(r, 1500));  // the subscriptions are made
  const rest = p.producer({ REPLAY_FILE: path.join(workDir, 'trx-rest.jsonl'), REPLAY_SPEED: '1000' });
  await eventually(`live updates (${JSON.stringify(seen)})`, () =>
    Object.values(seen).every((n) => typeof n === 'number' && n > 0) && lastLiveTrade?.id === String(JSON.parse(trxLines.at(-1)).data.t),
  90000, 500);
  check(true, `ccxt.pro watchOHLCV/watchTrades/watchTicker/watchTickers and binance-api-node ws.trades/aggTrades/ticker ` +
    `received live updates; the last trade watched is the last replayed (${JSON.stringify(seen)})`);
  await rest.stop();
  for (const close of closers) close();
  await pro.close();

  const codes = await p.stop();
  check(codes.gateway === 0, 'the gateway exits 0 on SIGTERM');
} catch (e) {
  console.error(e.stack || e);
  console.error(`gateway log:\n${p.gateway.tail()}`);
  process.exitCode = 1;
}
process.exit(process.exitCode ?? 0);
