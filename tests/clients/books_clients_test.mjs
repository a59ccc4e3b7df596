// Order books through clients nobody here wrote: ccxt fetchOrderBook and fetchBidsAsks, ccxt.pro
// watchOrderBook, binance-api-node book, ws.depth (@100ms and 1000 ms) and ws.partialDepth, pointed at the gateway while
// binance-producer replays cryptofeed's recorded spot depth stream (BINANCE.ws.1.0) with the REST
// snapshots taken with it (BINANCE.http.0.0; REPLAY_DEPTH_SNAPSHOTS). What they get is held to a
// reference book built here, a third time and independently: the snapshot, then every event
// after it chained by Binance's rule (U == previous u + 1), 1000 levels a side.
//   node tests/clients/books_clients_test.mjs --build <build dir> --source <source dir>
import fs from 'node:fs';
import path from 'node:path';
import ccxt from 'ccxt';
import BinanceApiNode from 'binance-api-node';
import { args, check, eventually, pipeline } from './harness.mjs';

const a = args();
const dir = path.join(a.source, 'tests/fixtures/cryptofeed');
const wsFile = path.join(dir, 'BINANCE.ws.1.0');
const httpFile = path.join(dir, 'BINANCE.http.0.0');
const DEPTH = 1000;

// The reference: exact decimal strings compared as numbers only for ordering.
function reference() {
  const books = {};
  for (const line of fs.readFileSync(httpFile, 'utf8').trim().split('\n')) {
    const symbol = line.match(/symbol=([A-Z0-9]+)/)[1];
    const s = JSON.parse(line.slice(line.indexOf(': ') + 2));
    books[symbol] = { id: s.lastUpdateId, first: true, bids: new Map(s.bids), asks: new Map(s.asks) };
  }
  const lines = fs.readFileSync(wsFile, 'utf8').trim().split('\n').slice(1);
  for (const line of lines) {
    const m = JSON.parse(line.slice(line.indexOf(': ') + 2));
    if (!m.stream.includes('@depth')) continue;
    const e = m.data;
    const b = books[e.s];
    if (e.u <= b.id) continue;
    if (b.first ? e.U > b.id + 1 : e.U !== b.id + 1) throw new Error(`the recording does not chain: ${e.s} ${e.U}`);
    b.first = false;
    for (const [side, levels] of [[b.bids, e.b], [b.asks, e.a]])
      for (const [p, q] of levels) { if (Number(q) === 0) side.delete(p); else side.set(p, q); }
    for (const [side, desc] of [[b, true], [b, false]]) {
      const key = desc ? 'bids' : 'asks';
      const sorted = [...side[key]].sort((x, y) => (desc ? Number(y[0]) - Number(x[0]) : Number(x[0]) - Number(y[0])));
      side[key] = new Map(sorted.slice(0, DEPTH));
    }
    b.id = e.u;
  }
  const out = {};
  for (const [symbol, b] of Object.entries(books)) {
    const sort = (m, desc) => [...m].sort((x, y) => (desc ? Number(y[0]) - Number(x[0]) : Number(x[0]) - Number(y[0])));
    out[symbol] = { id: b.id, bids: sort(b.bids, true), asks: sort(b.asks, false) };
  }
  return out;
}
const ref = reference();
const numeric = (levels) => levels.map(([p, q]) => [Number(p), Number(q)]);
const same = (got, want) => got.length === want.length && got.every((l, i) => l[0] === want[i][0] && l[1] === want[i][1]);

const p = await pipeline(a);
try {
  // The symbols exist (their trades made candles) before any book does.
  const trades = p.producer({ REPLAY_FILE: wsFile, BINANCE_DEPTH: 'off' });
  check((await trades.exited) === 0, 'the recording\'s trades are replayed (no books)');
  const urls = { api: { public: p.url('/binance/api/v3'), ws: { spot: `ws://127.0.0.1:${p.gatewayPort}/binance/ws` } } };
  const options = { fetchMarkets: { types: ['spot'] }, fetchCurrencies: false };
  const binance = new ccxt.binance({ urls, options });
  let markets = '';
  // (BLZETH and RUNEEUR did not trade while recorded: books but no candles, so no ccxt market.)
  await eventually('NKN/USDT and LRC/BTC are markets', async () => {
    await binance.loadMarkets(true);
    markets = Object.keys(binance.markets).join(',');
    return ['NKN/USDT', 'LRC/BTC'].every((s) => binance.markets[s]);
  }, 60000).catch((e) => { throw new Error(`${e.message}; markets: ${markets}`); });

  // Watchers first, then the books arrive.
  const pro = new ccxt.pro.binance({ urls, options });
  await pro.loadHttpProxyAgent();
  await pro.loadMarkets();
  const node = BinanceApiNode.default({ httpBase: p.url('/binance'), wsBase: `ws://127.0.0.1:${p.gatewayPort}/binance/ws` });
  const watched = {};
  let watchError;
  (async () => {
    for (;;) watched.nkn = await pro.watchOrderBook('NKN/USDT');
  })().catch((e) => { watchError = String(e); });
  (async () => {
    for (;;) watched.lrc = await pro.watchOrderBook('LRC/BTC');
  })().catch((e) => { watchError = String(e); });
  let lastDiff;
  let lastPartial;
  let lastSecond;
  const closers = [
    node.ws.depth('NKNUSDT@100ms', (d) => { lastDiff = d; }),
    node.ws.depth('LRCBTC', (d) => { lastSecond = d; }),  // @depth: a second's diffs in one
    node.ws.partialDepth({ symbol: 'NKNUSDT', level: 5 }, (d) => { lastPartial = d; }),
  ];
  const books = p.producer({ REPLAY_FILE: wsFile, REPLAY_DEPTH_SNAPSHOTS: httpFile, REPLAY_SPEED: '3' });
  check((await books.exited) === 0, 'the recording is replayed again, with its depth events and snapshots');

  // REST: ccxt fetchOrderBook and binance-api-node book are the reference's books.
  for (const [symbol, market] of [['NKNUSDT', 'NKN/USDT'], ['BLZETH', 'BLZ/ETH'], ['LRCBTC', 'LRC/BTC'], ['RUNEEUR', 'RUNE/EUR']]) {
    const want = ref[symbol];
    await eventually(`${market}: the gateway's book reaches update id ${want.id}`, async () => {
      const r = await fetch(p.url(`/binance/api/v3/depth?symbol=${symbol}&limit=1`));
      return r.status === 200 && (await r.json()).lastUpdateId === want.id;
    }, 60000);
    if (binance.markets[market]) {
      const ob = await binance.fetchOrderBook(market, 1000);
      check(ob.nonce === want.id && same(ob.bids, numeric(want.bids)) && same(ob.asks, numeric(want.asks)),
        `ccxt fetchOrderBook ${market}: ${ob.bids.length} bids and ${ob.asks.length} asks equal the reference at ${want.id}`);
    }
    const book = await node.book({ symbol, limit: 5000 });
    check(book.lastUpdateId === want.id && book.bids.length === want.bids.length &&
      book.bids.every((l, i) => l.price === want.bids[i][0] && l.quantity === want.bids[i][1]) &&
      book.asks.every((l, i) => l.price === want.asks[i][0] && l.quantity === want.asks[i][1]),
      `binance-api-node book ${symbol}: every level the reference's, digit for digit`);
  }
  const bidsAsks = await binance.fetchBidsAsks(['NKN/USDT', 'LRC/BTC']);
  check(['NKN/USDT', 'LRC/BTC'].every((m) => {
    const want = ref[m.replace('/', '')];
    const t = bidsAsks[m];
    return t && t.bid === Number(want.bids[0][0]) && t.bidVolume === Number(want.bids[0][1]) &&
      t.ask === Number(want.asks[0][0]) && t.askVolume === Number(want.asks[0][1]);
  }), `ccxt fetchBidsAsks: best bid and ask of NKN/USDT and LRC/BTC are the reference's (${JSON.stringify(bidsAsks['NKN/USDT']?.info)})`);

  // Live: the watchers followed the stream to the same books.
  await eventually('ccxt.pro watchOrderBook and binance-api-node streams reach the last update', async () => {
    if (watchError) throw new Error(`watchOrderBook failed: ${watchError}`);
    return watched.nkn?.nonce === ref.NKNUSDT.id && watched.lrc?.nonce === ref.LRCBTC.id &&
      lastDiff?.finalUpdateId === ref.NKNUSDT.id && lastPartial?.lastUpdateId === ref.NKNUSDT.id &&
      lastSecond?.finalUpdateId === ref.LRCBTC.id;
  }, 30000).catch((e) => {
    throw new Error(`${e.message}: watchOrderBook at ${watched.nkn?.nonce} and ${watched.lrc?.nonce}, ws.depth at ` +
      `${lastDiff?.finalUpdateId} and ${lastSecond?.finalUpdateId}, ws.partialDepth at ${lastPartial?.lastUpdateId}; want ${ref.NKNUSDT.id}, ${ref.LRCBTC.id}`);
  });
  for (const [key, symbol] of [['nkn', 'NKNUSDT'], ['lrc', 'LRCBTC']]) {
    const w = watched[key];
    const want = ref[symbol];
    check(same(w.bids, numeric(want.bids)) && same(w.asks, numeric(want.asks)),
      `ccxt.pro watchOrderBook ${symbol}: ${w.bids.length}/${w.asks.length} levels equal the reference at ${want.id}`);
  }
  check(lastPartial.bids.length === 5 && lastPartial.asks.length === 5 &&
    lastPartial.bids.every((l, i) => l.price === ref.NKNUSDT.bids[i][0] && l.quantity === ref.NKNUSDT.bids[i][1]) &&
    lastPartial.asks.every((l, i) => l.price === ref.NKNUSDT.asks[i][0] && l.quantity === ref.NKNUSDT.asks[i][1]),
    'binance-api-node ws.partialDepth NKNUSDT level 5: the reference\'s five best levels a side');
  check(lastDiff.symbol === 'NKNUSDT', `binance-api-node ws.depth NKNUSDT@100ms: diffs up to ${lastDiff.finalUpdateId}`);
  for (const close of closers) close();
  await pro.close();
  const codes = await p.stop();
  check(Object.values(codes).every((c) => c === 0), `every service exits 0 on SIGTERM (${JSON.stringify(codes)})`);
} catch (e) {
  console.error(`gateway log:\n${p.gateway.tail()}`);
  throw e;
}
