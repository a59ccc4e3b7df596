// What the client tests share: the built services as child processes on loopback (dev-broker,
// stream-processor, gateway, the producers), free ports, readiness, and a stand-in CoinGecko
// that answers with the recorded /coins/markets response. Every child is killed on exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!out.build || !out.source) throw new Error('usage: --build <build dir> --source <source dir>');
  return out;
}

const children = new Set();
function killAll() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

export const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cryptoflow-clients-'));

// A port below the kernel's ephemeral range (32768-60999), so that no outgoing connection can
// take it between this check and the service binding it.
export async function freePort() {
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * 22767);
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export class Service {
  constructor(build, name, env, argv = []) {
    this.name = name;
    this.log = path.join(workDir, `${name}-${Date.now()}.log`);
    const err = fs.openSync(this.log, 'w');
    this.child = spawn(path.join(build, 'services', name, name), argv, {
      env: { ...process.env, LOG_FORMAT: 'text', ...env },
      stdio: ['ignore', 'pipe', err],
    });
    children.add(this.child);
    this.stdout = '';
    this.child.stdout.on('data', (d) => { this.stdout += d; });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      children.delete(this.child);
      resolve(code ?? 128 + os.constants.signals[signal]);
    }));
  }
  async firstLine(timeoutMs = 30000) {
    const until = Date.now() + timeoutMs;
    while (!this.stdout.includes('\n')) {
      if (Date.now() > until) throw new Error(`${this.name}: no output`);
      await sleep(50);
    }
    return this.stdout.split('\n')[0].trim();
  }
  async stop(timeoutMs = 30000) {
    this.child.kill('SIGTERM');
    return Promise.race([this.exited, sleep(timeoutMs).then(() => -1)]);
  }
  tail() { return fs.readFileSync(this.log, 'utf8').split('\n').slice(-30).join('\n'); }
}

export async function eventually(what, pred, timeoutMs = 60000, everyMs = 200) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await pred(); if (last) return last; } catch (e) { last = e; }
    if (Date.now() > until) throw new Error(`timed out: ${what} (last: ${last})`);
    await sleep(everyMs);
  }
}

export async function ready(adminPort, timeoutMs = 60000) {
  await eventually(`ready on ${adminPort}`, async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok, timeoutMs);
}

// A stand-in CoinGecko: /coins/markets answers with the recorded 100-coin response (eur prices
// scaled by 0.92 so that the two currencies differ); /ping with CoinGecko's greeting.
// moving: each /coins/markets call of a currency answers with the next of six snapshots ten
// minutes apart, the last one now (prices 1% up each time), then the last one again; `served`
// keeps what went out: { usd: [{ time, prices: { bitcoin: ... } }], eur: [...] }.
export async function coingeckoStandIn(source, { moving = false } = {}) {
  const recorded = fs.readFileSync(path.join(source, 'tests/fixtures/coingecko/GetMarketsAsync.txt'), 'utf8');
  const served = {};
  const now = Date.now();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.endsWith('/coins/markets')) {
      const vs = url.searchParams.get('vs_currency');
      let coins = JSON.parse(recorded);
      if (vs === 'eur') coins = coins.map((c) => ({ ...c, current_price: +(c.current_price * 0.92).toPrecision(8) }));
      let body = vs === 'eur' ? JSON.stringify(coins) : recorded;
      if (moving) {
        const list = (served[vs] ??= []);
        const k = Math.min(list.length, 5);
        const time = now - (5 - k) * 600000;
        coins = coins.map((c) => ({ ...c, current_price: +(c.current_price * (1 + k / 100)).toPrecision(8), last_updated: new Date(time).toISOString() }));
        if (list.length < 6) list.push({ time, prices: Object.fromEntries(coins.map((c) => [c.id, c.current_price])) });
        body = JSON.stringify(coins);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"gecko_says":"(V3) To the Moon!"}');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/api/v3`, served, close: () => server.close() };
}

// dev-broker, stream-processor and the gateway (with the page), ready.
export async function pipeline(a, gatewayEnv = {}) {
  const broker = new Service(a.build, 'dev-broker', {});
  const bootstrap = await broker.firstLine();
  const common = { KAFKA_BOOTSTRAP_SERVERS: bootstrap, KAFKA_FETCH_WAIT_MAX_MS: '5' };
  const processorAdmin = await freePort();
  const processor = new Service(a.build, 'stream-processor', {
    ...common, ADMIN_PORT: String(processorAdmin), CANDLE_INTERVALS: '1m,5m', IDLE_TIMEOUT: '1s',
  });
  const gatewayPort = await freePort();
  const gatewayAdmin = await freePort();
  const gatewayEnvAll = {
    ...common, ADMIN_PORT: String(gatewayAdmin), GATEWAY_PORT: String(gatewayPort), GATEWAY_BIND: '127.0.0.1',
    GATEWAY_RATE_LIMIT: '0', GATEWAY_CANDLES: '4000', GATEWAY_STATIC_DIR: path.join(a.build, 'services/gateway/web'),
    ...gatewayEnv,
  };
  const p = {
    broker, bootstrap, common, processor, gatewayPort, gatewayAdmin,
    gateway: new Service(a.build, 'gateway', gatewayEnvAll),
    url: (target) => `http://127.0.0.1:${gatewayPort}${target}`,
    async restartGateway() {
      const code = await p.gateway.stop();
      if (code !== 0) throw new Error(`gateway exited ${code} on SIGTERM:\n${p.gateway.tail()}`);
      p.gateway = new Service(a.build, 'gateway', gatewayEnvAll);
      await ready(gatewayAdmin);
    },
    producer(env) { return new Service(a.build, 'binance-producer', { ...common, ADMIN_PORT: '0', ...env }); },
    coingecko(env) { return new Service(a.build, 'coingecko-producer', { ...common, ADMIN_PORT: '0', ...env }); },
    async stop() {
      const codes = {};
      for (const s of [p.gateway, processor]) codes[s.name] = await s.stop();
      await broker.stop();
      return codes;
    },
  };
  await ready(gatewayAdmin);
  return p;
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// The TRXUSDT @trade stream of binance-data-processor (10,000 trades over 48 minutes of
// 2025-03-04) as combined-stream frames, times in microseconds as recorded: a REPLAY_FILE.
export function trxFrames(source) {
  const csv = fs.readFileSync(
    path.join(source, 'tests/fixtures/binance-data-processor/test_positive_binance_trade_stream_spot_trxusdt_04-03-2025.csv'),
    'utf8');
  const lines = csv.trim().split('\n').slice(1).map((row) => {
    const f = row.split(',');
    return JSON.stringify({
      stream: 'trxusdt@trade',
      data: { e: 'trade', E: Number(f[3]), s: f[5], t: Number(f[6]), p: f[7], q: f[8], T: Number(f[4]), m: f[9] === '1', M: true },
    });
  });
  const file = path.join(workDir, 'trxusdt.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
