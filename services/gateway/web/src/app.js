// cryptoflow's page: a live candlestick chart with a moving average, the tickers, and the
// pipeline's figures, all from the gateway's native API (/v1). Plain browser JavaScript, no build
// step; the chart is TradingView's lightweight-charts, served by the gateway itself.
'use strict';

const SMA_LENGTH = 20;
const $ = (id) => document.getElementById(id);
const state = { symbol: '', interval: '', bars: new Map(), source: null, failures: 0 };

const chart = LightweightCharts.createChart($('chart'), {
  autoSize: true,
  layout: { background: { color: '#171e26' }, textColor: '#d8dee6' },
  grid: { vertLines: { color: '#222b35' }, horzLines: { color: '#222b35' } },
  timeScale: { timeVisible: true, secondsVisible: false },
});
const candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
  upColor: '#26a69a', downColor: '#ef5350', wickUpColor: '#26a69a', wickDownColor: '#ef5350', borderVisible: false,
});
const sma = chart.addSeries(LightweightCharts.LineSeries, { color: '#f5c542', lineWidth: 2, priceLineVisible: false });
$('sma-length').textContent = String(SMA_LENGTH);

const bar = (c) => ({ time: c.start / 1000, open: +c.open, high: +c.high, low: +c.low, close: +c.close });
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
  candles.setData(bars);
  sma.setData(averages(bars));
  if (fit) chart.timeScale().fitContent();
  summarize();
}

function summarize(last) {
  const n = state.bars.size;
  if (n === 0) { $('summary').textContent = `${state.symbol} ${state.interval} · no candles yet`; return; }
  const newest = last || [...state.bars.values()].reduce((a, b) => (a.time > b.time ? a : b));
  $('summary').textContent =
    `${state.symbol} ${state.interval} · ${n} candles · last ${utc(newest.time * 1000)} UTC close ${newest.closeText || newest.close}`;
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
  state.bars = new Map(body.candles.map((c) => [c.start, { ...bar(c), closeText: c.close }]));
  if (body.candles.length) setPrecision(body.candles[body.candles.length - 1].close);
  redraw(true);
}

function onCandle(c) {
  if (c.symbol !== state.symbol || c.interval !== state.interval) return;
  const b = { ...bar(c), closeText: c.close };
  const newest = state.bars.size ? Math.max(...state.bars.keys()) : -Infinity;
  const known = state.bars.has(c.start);
  state.bars.set(c.start, b);
  if (c.start >= newest) {
    candles.update(b);
    const all = [...state.bars.values()].sort((x, y) => x.time - y.time);
    const avg = averages(all.slice(-SMA_LENGTH));
    if (avg.length) sma.update(avg[avg.length - 1]);
    summarize(b);
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
let tickerFrame = 0;
function renderTickers() {
  if (tickerFrame) return;
  tickerFrame = requestAnimationFrame(() => {
    tickerFrame = 0;
    const body = $('tickers').tBodies[0];
    const byCap = [...tickers.entries()].sort(([, a], [, b]) => (b.cap ?? -1) - (a.cap ?? -1));
    body.replaceChildren(...byCap.map(([coin, t]) => {
      const tr = document.createElement('tr');
      const cells = [t.name || coin, t.usd ?? '–', t.eur ?? '–', t.change === undefined ? '–' : `${(+t.change).toFixed(2)} %`];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (i === 3 && t.change !== undefined) td.className = +t.change >= 0 ? 'up' : 'down';
        tr.appendChild(td);
      });
      return tr;
    }));
  });
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
    if (!symbols.length) {
      $('summary').textContent = 'waiting for the first candles…';
      setTimeout(refreshSymbols, 2000);
    } else if (!state.symbol) {
      const [hashSymbol, hashInterval] = decodeURIComponent(location.hash.slice(1)).split('/');
      const pick = symbols.find((s) => s.symbol === hashSymbol) || symbols[0];
      const interval = pick.intervals.includes(hashInterval) ? hashInterval : pick.intervals[0];
      await choose(pick.symbol, interval);
    }
    fillPickers();
  } catch (e) {
    setConnection('gateway unreachable', false);
  }
}

async function refreshPipeline() {
  try {
    const p = await getJson('/v1/pipeline');
    $('trades-rate').textContent = p.trades_per_second;
    $('watermark-lag').textContent = p.watermark_lag_ms === null ? '–' : lag(p.watermark_lag_ms);
    $('dead-letters').textContent = p.dead_letters === null ? '–' : String(p.dead_letters);
  } catch (e) { /* shown by the connection badge */ }
}
function lag(ms) {
  if (ms < 120e3) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7200e3) return `${Math.round(ms / 60e3)} min`;
  if (ms < 172800e3) return `${Math.round(ms / 3600e3)} h`;
  return `${Math.round(ms / 86400e3)} days`;
}

$('symbol').addEventListener('change', (e) => {
  const s = symbols.find((x) => x.symbol === e.target.value);
  const interval = s && s.intervals.includes(state.interval) ? state.interval : (s ? s.intervals[0] : state.interval);
  choose(e.target.value, interval).then(fillPickers);
});
$('interval').addEventListener('change', (e) => choose(state.symbol, e.target.value));

getJson('/v1/tickers').then((b) => b.tickers.forEach(onTicker)).catch(() => {});
refreshSymbols();
refreshPipeline();
setInterval(refreshSymbols, 10000);
setInterval(refreshPipeline, 2000);
