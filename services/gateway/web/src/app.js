// cryptoflow's page: a live candlestick chart with volume bars, a moving average and the values
// under the cursor, the recent trades, the tickers, and the pipeline's figures with the data's
// own clock. Candles, tickers and the pipeline come from the gateway's native API (/v1), the
// trades from its Binance-compatible aggTrades call and stream. Plain browser JavaScript, no
// build step; the chart is TradingView's lightweight-charts, served by the gateway itself.
'use strict';

const SMA_LENGTH = 20;
const $ = (id) => document.getElementById(id);
const state = { symbol: '', interval: '', bars: new Map(), sorted: [], source: null, failures: 0, newestTrade: 0, retrySymbols: 0 };
const VOLUME_UP = '#1f5f59';  // opaque: the bars are told from the candles by their colours
const VOLUME_DOWN = '#7a3436';

const chart = LightweightCharts.createChart($('chart'), {
  autoSize: true,
  layout: { background: { color: '#171e26' }, textColor: '#d8dee6' },
  grid: { vertLines: { color: '#222b35' }, horzLines: { color: '#222b35' } },
  timeScale: { timeVisible: true, secondsVisible: false },
});
const candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
  upColor: '#26a69a', downColor: '#ef5350', wickUpColor: '#26a69a', wickDownColor: '#ef5350', borderVisible: false,
});
candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
const volume = chart.addSeries(LightweightCharts.HistogramSeries, {
  priceScaleId: 'volume', priceFormat: { type: 'volume' }, lastValueVisible: false, priceLineVisible: false,
});
chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
const sma = chart.addSeries(LightweightCharts.LineSeries, { color: '#f5c542', lineWidth: 2, priceLineVisible: false });
$('sma-length').textContent = String(SMA_LENGTH);

const bar = (c) => ({
  time: c.start / 1000, open: +c.open, high: +c.high, low: +c.low, close: +c.close,
  text: { open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume }, volume: +c.volume,
});
const volumeBar = (b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? VOLUME_UP : VOLUME_DOWN });
const utc = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

function averages(bars) {
  const out = [];
  let sum = 0;
  for (let i = 0; i < bars.length; i++) {
    sum += bars[i].close;
    if (i >= SMA_LENGTH) sum -= bars[i - SMA_LENGTH].close;
    if (i >= SMA_LENGTH - 1) out.push({ time: bars[i].time, value: sum / SMA_LENGTH });
  }
  return out;
}

// The price axis shows the digits the market trades in (XRPETH needs 8, BTCUSDT 2).
function setPrecision(text) {
  const digits = (text.split('.')[1] || '').replace(/0+$/, '').length;
  const precision = Math.min(8, Math.max(2, digits));
  const format = { type: 'price', precision, minMove: 10 ** -precision };
  candles.applyOptions({ priceFormat: format });
  sma.applyOptions({ priceFormat: format });
}

function redraw(fit) {
  const bars = [...state.bars.values()].sort((a, b) => a.time - b.time);
  state.sorted = bars;
  candles.setData(bars);
  volume.setData(bars.map(volumeBar));
  sma.setData(averages(bars));
  if (fit) chart.timeScale().fitContent();
  summarize();
  showValues(null);
}

function summarize(last) {
  const n = state.bars.size;
  if (n === 0) { $('summary').textContent = `${state.symbol} ${state.interval} · no candles yet`; return; }
  const newest = last || state.sorted[state.sorted.length - 1];
  $('summary').textContent =
    `${state.symbol} ${state.interval} · ${n} candles · last ${utc(newest.time * 1000)} UTC close ${newest.text.close}`;
}

// The line above the chart: the candle under the cursor (the newest when the cursor is away), its
// open, high, low, close and volume as the API gave them, and the moving average there.
let hovered = null;
function showValues(time) {
  hovered = time;
  const bars = state.sorted;
  let i = bars.length - 1;
  if (time !== null) {
    i = bars.findIndex((b) => b.time === time);
    if (i < 0) return;
  }
  if (i < 0) { $('ohlc').textContent = '–'; return; }
  const b = bars[i];
  const ma = i >= SMA_LENGTH - 1 ? bars.slice(i - SMA_LENGTH + 1, i + 1).reduce((s, x) => s + x.close, 0) / SMA_LENGTH : null;
  const parts = [['', `${utc(b.time * 1000)} UTC`], ['O', b.text.open], ['H', b.text.high], ['L', b.text.low],
    ['C', b.text.close], ['V', b.text.volume], [`MA(${SMA_LENGTH})`, ma === null ? '–' : ma.toPrecision(8)]];
  $('ohlc').replaceChildren(...parts.flatMap(([label, value]) => {
    const v = document.createElement('b');
    v.textContent = value;
    return label ? [`${label} `, v] : [v];
  }));
  $('ohlc').dataset.time = String(b.time * 1000);
}
chart.subscribeCrosshairMove((param) => showValues(param.time === undefined ? null : param.time));

// A load that failed (the gateway away): the badge says so; the stream's reconnect loads again.
function unreachable() {
  setConnection('gateway unreachable', false);
}
function setConnection(text, live) {
  $('connection').textContent = text;
  $('connection').classList.toggle('live', live);
}

async function getJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

async function loadCandles() {
  const { symbol, interval } = state;
  const body = await getJson(`/v1/candles?symbol=${encodeURIComponent(symbol)}&interval=${interval}&limit=1500`);
  if (symbol !== state.symbol || interval !== state.interval) return;  // switched meanwhile
  state.bars = new Map(body.candles.map((c) => [c.start, bar(c)]));
  if (body.candles.length) setPrecision(body.candles[body.candles.length - 1].close);
  redraw(true);
}

function onCandle(c) {
  if (c.symbol !== state.symbol || c.interval !== state.interval) return;
  const b = bar(c);
  const newest = state.sorted.length ? state.sorted[state.sorted.length - 1].time * 1000 : -Infinity;
  const known = state.bars.has(c.start);
  state.bars.set(c.start, b);
  if (c.start >= newest) {
    if (c.start === newest) state.sorted[state.sorted.length - 1] = b;
    else state.sorted.push(b);
    candles.update(b);
    volume.update(volumeBar(b));
    const avg = averages(state.sorted.slice(-SMA_LENGTH));
    if (avg.length) sma.update(avg[avg.length - 1]);
    summarize(b);
    if (hovered === null || hovered === b.time) showValues(hovered);
  } else if (known) {
    redraw(false);  // a window before the newest changed (a late update): draw everything again
  }
}

const tickers = new Map();  // coin -> {name, usd, eur, change, cap}; shown by usd market cap
function onTicker(t) {
  const row = tickers.get(t.coin) || { name: t.name || t.coin };
  if (t.vs_currency === 'usd' || t.vs_currency === 'eur') row[t.vs_currency] = t.price;
  if (t.vs_currency === 'usd' && t.change_24h_pct !== null) row.change = t.change_24h_pct;
  if (t.vs_currency === 'usd' && t.market_cap !== null) row.cap = +t.market_cap;
  tickers.set(t.coin, row);
  renderTickers();
}
// draw, at most once per animation frame however often the returned function is called.
function onceAFrame(draw) {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; draw(); });
  };
}
// A table row of text cells.
function tableRow(texts) {
  const tr = document.createElement('tr');
  for (const text of texts) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
  }
  return tr;
}

const renderTickers = onceAFrame(() => {
  const byCap = [...tickers.entries()].sort(([, a], [, b]) => (b.cap ?? -1) - (a.cap ?? -1));
  $('tickers').tBodies[0].replaceChildren(...byCap.map(([coin, t]) => {
    const tr = tableRow([t.name || coin, t.usd ?? '–', t.eur ?? '–', t.change === undefined ? '–' : `${(+t.change).toFixed(2)} %`]);
    if (t.change !== undefined) tr.cells[3].className = +t.change >= 0 ? 'up' : 'down';
    return tr;
  }));
});

// The recent trades of the chosen symbol: the last 30 from aggTrades, then the aggTrade stream
// (Binance's protocol: for a symbol whose producer reads single trades, the gateway forms the
// aggregates). Newest first; a buy (the taker bought) in green, a sell in red.
const TAPE_LENGTH = 30;
const tape = { socket: null, rows: [] };
function onTrade(t) {
  if (t.s !== undefined && t.s !== state.symbol) return;
  if (tape.rows.length && t.a <= tape.rows[0].a) return;  // the REST page and the stream overlap
  tape.rows.unshift({ a: t.a, time: t.T, price: t.p, qty: t.q, buy: !t.m });
  tape.rows.length = Math.min(tape.rows.length, TAPE_LENGTH);
  state.newestTrade = Math.max(state.newestTrade, t.T);
  renderTape();
  showClock();
}
const renderTape = onceAFrame(() => {
  $('trades').tBodies[0].replaceChildren(...tape.rows.map((r) => {
    const tr = tableRow([new Date(r.time).toISOString().slice(11, 23), r.price, r.qty]);
    tr.className = r.buy ? 'buy' : 'sell';
    tr.dataset.id = String(r.a);
    return tr;
  }));
});
function watchTrades() {
  const symbol = state.symbol;
  if (tape.socket) tape.socket.close();
  tape.rows = [];
  renderTape();
  $('trades-symbol').textContent = symbol;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/binance/ws/${symbol.toLowerCase()}@aggTrade`);
  tape.socket = socket;
  socket.addEventListener('open', () => {
    getJson(`/binance/api/v3/aggTrades?symbol=${encodeURIComponent(symbol)}&limit=${TAPE_LENGTH}`)
      .then((page) => { if (symbol === state.symbol) page.forEach((t) => onTrade({ ...t, s: symbol })); })
      .catch(() => {});
  });
  socket.addEventListener('message', (e) => onTrade(JSON.parse(e.data)));
  socket.addEventListener('close', () => {
    if (tape.socket === socket) setTimeout(() => { if (tape.socket === socket) watchTrades(); }, 2000);
  });
}

// The order book of the chosen symbol: the gateway's <symbol>@depth20@100ms stream (the best 20
// levels a side, whole, at each update), first its /api/v3/depth. The ladder shows the best 10
// asks above the best 10 bids with running totals; the depth chart the cumulative quantity of
// all 20 a side. A symbol without a good book (none read, or resyncing) says so.
const LADDER = 10;
const book = { socket: null, id: 0 };
function drawDepth(bids, asks) {
  const canvas = $('depth-chart');
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (!bids.length && !asks.length) return;
  const cum = (levels) => { let t = 0; return levels.map(([p, q]) => [Number(p), (t += Number(q))]); };
  const b = cum(bids);
  const a = cum(asks);
  const prices = [...b, ...a].map(([p]) => p);
  const lo = Math.min(...prices);
  const hi = Math.max(...prices);
  const top = Math.max(b.length ? b[b.length - 1][1] : 0, a.length ? a[a.length - 1][1] : 0);
  const x = (p) => (hi === lo ? w / 2 : ((p - lo) / (hi - lo)) * (w - 2) + 1);
  const y = (q) => h - 1 - (top ? (q / top) * (h - 4) : 0);
  for (const [side, color] of [[b, '#26a69a'], [a, '#ef5350']]) {
    if (!side.length) continue;
    ctx.beginPath();
    ctx.moveTo(x(side[0][0]), h - 1);
    for (const [p, q] of side) ctx.lineTo(x(p), y(q));
    ctx.lineTo(x(side[side.length - 1][0]), h - 1);
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.globalAlpha = 0.35;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.stroke();
  }
}
function onBook(symbol, b) {
  if (symbol !== state.symbol || b.lastUpdateId < book.id) return;
  book.id = b.lastUpdateId;
  const rows = (levels) => { let t = 0; return levels.slice(0, LADDER).map(([p, q]) => [p, q, (t += Number(q))]); };
  const asks = rows(b.asks).reverse();
  const bids = rows(b.bids);
  const fmt = (n) => String(Number(n.toPrecision(12)));
  $('asks').replaceChildren(...asks.map(([p, q, t]) => tableRow([p, q, fmt(t)])));
  $('bids').replaceChildren(...bids.map(([p, q, t]) => tableRow([p, q, fmt(t)])));
  const spread = b.asks.length && b.bids.length ? Number(b.asks[0][0]) - Number(b.bids[0][0]) : null;
  $('book-state').textContent = `update ${b.lastUpdateId}` + (spread === null ? '' : ` · spread ${fmt(spread)}`);
  drawDepth(b.bids, b.asks);
}
function noBook(symbol, why) {
  if (symbol !== state.symbol) return;
  $('asks').replaceChildren();
  $('bids').replaceChildren();
  drawDepth([], []);
  $('book-state').textContent = why;
}
function watchBook() {
  const symbol = state.symbol;
  if (book.socket) book.socket.close();
  book.id = 0;
  $('book-symbol').textContent = symbol;
  noBook(symbol, 'waiting for the book…');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/binance/ws/${symbol.toLowerCase()}@depth20@100ms`);
  book.socket = socket;
  // Which symbols have a good book (bookTicker of all answers those), then the book itself.
  socket.addEventListener('open', () => {
    getJson('/binance/api/v3/ticker/bookTicker')
      .then((all) => {
        if (!all.some((t) => t.symbol === symbol)) return noBook(symbol, 'no order book for this symbol');
        return getJson(`/binance/api/v3/depth?symbol=${encodeURIComponent(symbol)}&limit=20`).then((b) => onBook(symbol, b));
      })
      .catch(() => noBook(symbol, 'the book is resyncing'));
  });
  socket.addEventListener('message', (e) => onBook(symbol, JSON.parse(e.data)));
  socket.addEventListener('close', () => {
    if (book.socket === socket) setTimeout(() => { if (book.socket === socket) watchBook(); }, 2000);
  });
}

// The data's own clock: the newest trade's time, and how far it is behind the wall clock (in a
// replay of recorded trades, years; live, a second or so).
function showClock() {
  if (!state.newestTrade) return;
  $('data-time').textContent = `${new Date(state.newestTrade).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  $('data-lag').textContent = lag(Math.max(0, Date.now() - state.newestTrade));
}

// The stream: candles of the chosen series and every ticker. EventSource reconnects by itself
// and sends Last-Event-ID; after an error the candles are fetched again, so a gateway restart
// (which cannot resume the id) leaves no gap.
function connect() {
  if (state.source) state.source.close();
  const url = `/v1/stream?symbols=${encodeURIComponent(state.symbol)}&intervals=${state.interval}&types=candle,ticker`;
  const source = new EventSource(url);
  state.source = source;
  let broken = false;
  source.addEventListener('open', () => {
    setConnection('live', true);
    if (broken) loadCandles().catch(() => {});
    broken = false;
  });
  source.addEventListener('error', () => { broken = true; setConnection('reconnecting…', false); });
  source.addEventListener('candle', (e) => onCandle(JSON.parse(e.data)));
  source.addEventListener('ticker', (e) => onTicker(JSON.parse(e.data)));
}

async function choose(symbol, interval) {
  state.symbol = symbol;
  state.interval = interval;
  history.replaceState(null, '', `#${symbol}/${interval}`);
  state.bars = new Map();
  redraw(false);
  connect();
  watchTrades();
  watchBook();
  await loadCandles();
}

let symbols = [];
function fillPickers() {
  const sel = $('symbol');
  const names = symbols.map((s) => s.symbol);
  if (sel.options.length !== names.length || names.some((n, i) => sel.options[i].value !== n))
    sel.replaceChildren(...names.map((n) => new Option(n, n)));
  sel.value = state.symbol;
  const intervals = (symbols.find((s) => s.symbol === state.symbol) || { intervals: [] }).intervals;
  const isel = $('interval');
  if (isel.options.length !== intervals.length || intervals.some((n, i) => isel.options[i].value !== n))
    isel.replaceChildren(...intervals.map((n) => new Option(n, n)));
  isel.value = state.interval;
}

async function refreshSymbols() {
  try {
    symbols = (await getJson('/v1/symbols')).symbols;
    if (!state.symbol) {
      // The address's choice, when it names one; a symbol the gateway holds nothing of yet (a link
      // opened before its first trade) is waited for, not swapped for another one.
      const [hashSymbol, hashInterval] = decodeURIComponent(location.hash.slice(1)).split('/');
      const wanted = /^[A-Z0-9]{2,30}$/.test(hashSymbol || '') ? hashSymbol : null;
      const pick = symbols.find((s) => s.symbol === wanted) || (wanted ? null : symbols[0]);
      if (pick) {
        await choose(pick.symbol, pick.intervals.includes(hashInterval) ? hashInterval : pick.intervals[0]);
      } else {
        $('summary').textContent = wanted
          ? `waiting for ${wanted}'s first candles…` + (symbols.length ? ` (or pick one of ${symbols.length} held)` : '')
          : 'waiting for the first candles…';
        clearTimeout(state.retrySymbols);  // one retry pending, whoever called
        state.retrySymbols = setTimeout(refreshSymbols, 2000);
      }
    }
    fillPickers();
  } catch (e) {
    unreachable();
  }
}

async function refreshPipeline() {
  try {
    const p = await getJson('/v1/pipeline');
    $('trades-rate').textContent = p.trades_per_second;
    $('watermark').textContent = p.last_closed_window_end ? `${utc(p.last_closed_window_end)} UTC` : '–';
    $('dead-letters').textContent = p.dead_letters === null ? '–' : String(p.dead_letters);
  } catch (e) { /* shown by the connection badge */ }
}
function lag(ms) {
  if (ms < 120e3) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7200e3) return `${Math.round(ms / 60e3)} min`;
  if (ms < 172800e3) return `${Math.round(ms / 3600e3)} h`;
  if (ms < 730 * 86400e3) return `${Math.round(ms / 86400e3)} days`;
  return `${(ms / 365.25 / 86400e3).toFixed(1)} years`;
}

$('symbol').addEventListener('change', (e) => {
  const s = symbols.find((x) => x.symbol === e.target.value);
  const interval = s && s.intervals.includes(state.interval) ? state.interval : (s ? s.intervals[0] : state.interval);
  choose(e.target.value, interval).then(fillPickers).catch(unreachable);
});
$('interval').addEventListener('change', (e) => choose(state.symbol, e.target.value).catch(unreachable));

getJson('/v1/tickers').then((b) => b.tickers.forEach(onTicker)).catch(() => {});
refreshSymbols();
refreshPipeline();
setInterval(refreshSymbols, 10000);
setInterval(refreshPipeline, 2000);
setInterval(showClock, 1000);
