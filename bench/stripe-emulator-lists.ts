// List pages of 100 objects per second served by the Stripe emulator (rate limits off), with
// several keep-alive clients, beside the same loop against a trivial Fastify route that returns a
// fixed page of 100 customers: the ratio says how close the emulator is to the HTTP ceiling.
// Usage: bash scripts/node bench/stripe-emulator-lists.ts [customers=20000] [seconds=3] [clients=8] [runs=3]
import Fastify from 'fastify';
import { Agent, request } from 'node:http';
import { startStripeEmulator } from '../src/stripe-emulator/index.ts';

const [customers = 20000, seconds = 3, clients = 8, runs = 3] = process.argv.slice(2).map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function get(agent: Agent, port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization: 'Bearer sk_test_emulator' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Pages per second: each client walks the list with starting_after, starting over at the end. */
async function run(port: number, path: string, walk: boolean): Promise<{ pages: number; bytes: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const deadline = performance.now() + seconds * 1000;
  let pages = 0;
  let bytes = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    let cursor = '';
    while (performance.now() < deadline) {
      const body = await get(agent, port, `${path}?limit=100${cursor ? `&starting_after=${cursor}` : ''}`);
      pages++;
      bytes += body.length;
      if (walk) {
        // The id of the last object: the page ends with `…"id":"cus_…",…}],"has_more":…`.
        const end = body.lastIndexOf('"has_more":');
        const more = body.startsWith('true', end + 11);
        const idAt = body.lastIndexOf('"id":"cus_', end);
        cursor = more ? body.slice(idAt + 6, body.indexOf('"', idAt + 6)) : '';
      }
    }
  }));
  agent.destroy();
  return { pages: pages / seconds, bytes: bytes / seconds };
}

const emulator = await startStripeEmulator({ customers, seed: 1, rateLimit: 0, now: 1_700_000_000 });
const page = await get(new Agent(), emulator.port, '/v1/customers?limit=100');
const baseline = Fastify();
const pageBuffer = Buffer.from(page, 'latin1');
baseline.get('/v1/customers', (_req, reply) => { reply.type('application/json').send(pageBuffer); });
await baseline.listen({ port: 0, host: '127.0.0.1' });
const baselinePort = (baseline.server.address() as { port: number }).port;

console.log(`customers=${emulator.stats().resources.customer} objects=${emulator.stats().total} page=${page.length} bytes clients=${clients} ${seconds}s x ${runs} runs`);
const emu: number[] = [];
const base: number[] = [];
for (let r = 0; r < runs; r++) {
  const a = await run(emulator.port, '/v1/customers', true);
  const b = await run(baselinePort, '/v1/customers', false);
  emu.push(a.pages);
  base.push(b.pages);
  console.log(`run ${r + 1}: emulator ${a.pages.toFixed(0)} pages/s (${(a.bytes / 1e6).toFixed(0)} MB/s), fixed-page Fastify baseline ${b.pages.toFixed(0)} pages/s`);
}
const invoices = await run(emulator.port, '/v1/invoices', false);
console.log(`median: emulator ${median(emu).toFixed(0)} pages of 100/s; baseline ${median(base).toFixed(0)} pages/s; ratio ${(median(emu) / median(base)).toFixed(2)}`);
console.log(`(first page of /v1/invoices, 100 invoices with embedded lines: ${invoices.pages.toFixed(0)} pages/s, ${(invoices.bytes / 1e6).toFixed(0)} MB/s)`);
await baseline.close();
await emulator.stop();
