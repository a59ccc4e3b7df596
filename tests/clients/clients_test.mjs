// Clients nobody here wrote, pointed at the gateway instead of the exchanges: ccxt's Binance
// class (fetchOHLCV, fetchTicker) and CoinGecko's TypeScript SDK (simple/price, coins/markets,
// coins/list, supported_vs_currencies, market_chart and its range, ohlc, and CoinGecko's errors).
// They get what the gateway holds: the XRP/ETH candles equal to Binance's own klines, the tickers
// the coingecko-producer published from the recorded /coins/markets answer, then the history of
// six snapshots of it ten minutes apart.
//   node tests/clients/clients_test.mjs --build <build dir> --source <source dir>
import fs from 'node:fs';
import path from 'node:path';
import ccxt from 'ccxt';
import Coingecko from '@coingecko/coingecko-typescript';
import { args, check, coingeckoStandIn, eventually, pipeline } from './harness.mjs';

const a = args();
const p = await pipeline(a);
const coingecko = await coingeckoStandIn(a.source);
const moving = await coingeckoStandIn(a.source, { moving: true });
try {
  const tickers = p.coingecko({ COINGECKO_URL: coingecko.url, COINGECKO_TOP_N: '10', COINGECKO_POLL_INTERVAL_S: '3600' });
  const xrp = p.producer({ REPLAY_FILE: path.join(a.source, 'tests/fixtures/freqtrade/XRPETH.aggTrade.jsonl') });
  check((await xrp.exited) === 0, 'the XRP/ETH replay is delivered');
  const klines = JSON.parse(fs.readFileSync(path.join(a.source, 'tests/fixtures/freqtrade/XRP_ETH-1m.json'), 'utf8'));
  const last = klines[klines.length - 1];

  // ccxt: its Binance class with only the public API's URL changed.
  const binance = new ccxt.binance({
    urls: { api: { public: p.url('/binance/api/v3') } },
    options: { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false },
  });
  await eventually('the last XRP/ETH minute is final', async () => {
    await binance.loadMarkets(true);  // exchangeInfo lists the symbols the gateway holds
    const rows = await binance.fetchOHLCV('XRP/ETH', '1m', last[0], 1);
    return rows.length === 1 && rows[0][4] === last[4];
  }, 60000);
  const got = [];
  while (got.length < klines.length) {
    const since = got.length ? got[got.length - 1][0] + 60000 : klines[0][0];
    const page = await binance.fetchOHLCV('XRP/ETH', '1m', since, 1000);
    if (!page.length) break;
    got.push(...page);
  }
  const differ = klines.findIndex((k, i) => !got[i] || k.some((v, j) => v !== got[i][j]));
  check(got.length >= klines.length && differ === -1,
    `ccxt fetchOHLCV: ${got.length} 1m candles in pages of 1000, the first ${klines.length} equal to Binance's klines` +
    (differ === -1 ? '' : ` (first difference at ${differ}: ${JSON.stringify(klines[differ])} vs ${JSON.stringify(got[differ])})`));
  const ticker = await binance.fetchTicker('XRP/ETH');
  check(ticker.symbol === 'XRP/ETH' && ticker.last === last[4] && ticker.close === last[4],
    `ccxt fetchTicker: XRP/ETH last ${ticker.last}, Binance's last close ${last[4]}`);

  // CoinGecko's SDK with its base URL pointed at the gateway.
  const cg = new Coingecko({ baseURL: p.url('/coingecko/api/v3'), demoAPIKey: 'unused' });
  const price = await eventually('tickers held', async () => {
    const r = await cg.simple.price.get({ ids: 'bitcoin,ethereum', vs_currencies: 'usd,eur', include_24hr_change: true });
    return r.bitcoin && r.bitcoin.eur !== undefined && r.ethereum ? r : false;
  }, 30000);
  check(price.bitcoin.usd === 16951.52 && price.bitcoin.eur === 15595.398 && price.ethereum.usd === 1266.66,
    `coingecko simple.price: ${JSON.stringify(price)}`);
  const markets = await cg.coins.markets.get({ vs_currency: 'usd', per_page: 3, page: 1 });
  check(markets.map((m) => m.id).join() === 'bitcoin,ethereum,tether' && markets[0].market_cap === 326407877229,
    `coingecko coins.markets: ${markets.map((m) => `${m.id} ${m.current_price} cap ${m.market_cap}`).join('; ')}`);

  await tickers.stop();

  // History: a second producer polls a stand-in that walks the snapshot through the last hour.
  const history = p.coingecko({ COINGECKO_URL: moving.url, COINGECKO_TOP_N: '10', COINGECKO_POLL_INTERVAL_S: '1' });
  const served = () => (moving.served.usd ?? []).map((s) => [s.time, s.prices.bitcoin]);
  const chart = await eventually('six points of history', async () => {
    const r = await cg.coins.marketChart.get('bitcoin', { vs_currency: 'usd', days: '1' });
    return r.prices.length === 6 ? r : false;
  }, 60000);
  check(JSON.stringify(chart.prices) === JSON.stringify(served()) && chart.market_caps.length === 6,
    `coingecko coins.marketChart (days=1, 5-minutely): ${JSON.stringify(chart.prices)} = served ${JSON.stringify(served())}`);
  const first = served()[0][0];
  const range = await cg.coins.marketChart.getRange('bitcoin', { vs_currency: 'usd', from: first / 1000 + 1, to: Date.now() / 1000 });
  check(JSON.stringify(range.prices) === JSON.stringify(served().slice(1)),
    `coingecko coins.marketChart.getRange: the five points after the first (${range.prices.length})`);
  // ohlc days=1: 30-minute candles stamped with their close time, from the served points.
  const want = [];
  for (const [time, price] of served()) {
    const end = time - (time % 1800000) + 1800000;
    const c = want.length && want[want.length - 1][0] === end ? want[want.length - 1] : (want.push([end, price, price, price, price]), want[want.length - 1]);
    c[2] = Math.max(c[2], price);
    c[3] = Math.min(c[3], price);
    c[4] = price;
  }
  const candles = await cg.coins.ohlc.get('bitcoin', { vs_currency: 'usd', days: '1' });
  check(JSON.stringify(candles) === JSON.stringify(want), `coingecko coins.ohlc (days=1, 30 minutes): ${JSON.stringify(candles)}`);
  const list = await cg.coins.list.get();
  check(list.length === 10 && list.some((c) => c.id === 'bitcoin' && c.symbol === 'btc' && c.name === 'Bitcoin'),
    `coingecko coins.list: ${list.map((c) => c.id).join()}`);
  const currencies = await cg.simple.supportedVsCurrencies.get();
  check(JSON.stringify(currencies) === '["eur","usd"]', `coingecko simple.supportedVsCurrencies: ${JSON.stringify(currencies)}`);
  const failure = async (call) => { try { await call(); return 'no error'; } catch (e) { return `${e.status} ${JSON.stringify(e.error)}`; } };
  const unknownCoin = await failure(() => cg.coins.marketChart.get('nocoin', { vs_currency: 'usd', days: '1' }));
  check(unknownCoin === '404 {"error":"coin not found"}', `coingecko an unknown coin: ${unknownCoin}`);
  const gbp = await failure(() => cg.coins.markets.get({ vs_currency: 'gbp' }));
  check(gbp === '400 {"error":"invalid vs_currency"}', `coingecko a currency not collected (gbp): ${gbp}`);
  await history.stop();
  const codes = await p.stop();
  check(codes.gateway === 0, 'the gateway exits 0 on SIGTERM');
} catch (e) {
  console.error(e.stack || e);
  console.error(`gateway log:\n${p.gateway.tail()}`);
  process.exitCode = 1;
} finally {
  coingecko.close();
  moving.close();
}
process.exit(process.exitCode ?? 0);
