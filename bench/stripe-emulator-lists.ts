// List pages of 100 objects per second served by the Stripe emulator (rate limits off), beside a
// trivial Fastify server answering the very same bytes: the ratio says how close the emulator is
// to the HTTP ceiling of this machine.
//
// Each server runs in its own process and the load comes from this one, with the same client
// code for both (keep-alive agent, same number of connections, same URL shape, same parsing of
// each page for the next cursor). Sharing one process made the comparison meaningless: the client
// and the trivial server then ran inside the emulator's gigabyte heap, paying its garbage
// collection, and measured slower than the emulator itself.
// Usage: bash scripts/node bench/stripe-emulator-lists.ts [customers=20000] [seconds=3] [clients=8] [runs=5]
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { median } from './stats.ts';

const role = process.argv[2];

if (role === 'emulator') {
  const { startStripeEmulator } = await import('../src/stripe-emulator/index.ts');
  const emulator = await startStripeEmulator({ customers: Number(process.argv[3]), seed: 1, rateLimit: 0, now: 1_700_000_000 });
  const stats = emulator.stats();
  process.send!({ port: emulator.port, customers: stats.resources.customer, objects: stats.total });
} else if (role === 'baseline') {
  const { default: Fastify } = await import('fastify');
  // The exact bytes the emulator answered, for each list (sent over IPC: too big for argv).
  const pages = await new Promise<Record<string, string>>((resolve) => process.once('message', (m) => resolve(m as Record<string, string>)));
  const app = Fastify();
  for (const [path, base64] of Object.entries(pages)) {
    const body = Buffer.from(base64, 'base64');
    app.get(path, (_request, reply) => {
      reply.type('application/json').send(body);
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send!({ port: (app.server.address() as { port: number }).port });
} else {
  const [customers = 20000, seconds = 3, clients = 8, runs = 5] = process.argv.slice(2).map(Number);

  const start = (args: string[], input?: unknown) =>
    new Promise<{ child: ChildProcess; info: Record<string, number> }>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), args, { execArgv: ['--max-old-space-size=6000'] });
      child.once('message', (info) => resolve({ child, info: info as Record<string, number> }));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
      if (input !== undefined) child.send(input as object);
    });

  const get = (agent: Agent, port: number, path: string) =>
    new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization: 'Bearer sk_test_emulator' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode} for ${path}`))));
      });
      req.on('error', reject);
      req.end();
    });

  /** Pages per second: each client walks the list with starting_after, starting over at the end. */
  const run = async (port: number, path: string, prefix: string) => {
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const deadline = performance.now() + seconds * 1000;
    let pages = 0;
    let bytes = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        let cursor = '';
        while (performance.now() < deadline) {
          const body = (await get(agent, port, `${path}?limit=100${cursor ? `&starting_after=${cursor}` : ''}`)).toString('latin1');
          pages++;
          bytes += body.length;
          // The id of the last object: the page ends with `…"id":"cus_…",…}],"has_more":…`.
          const end = body.lastIndexOf('"has_more":');
          const idAt = body.lastIndexOf(`"id":"${prefix}`, end);
          cursor = body.startsWith('true', end + 11) ? body.slice(idAt + 6, body.indexOf('"', idAt + 6)) : '';
        }
      }),
    );
    agent.destroy();
    return { pages: pages / seconds, mb: bytes / seconds / 1e6 };
  };

  const emulator = await start(['emulator', String(customers)]);
  const lists = [
    { path: '/v1/customers', prefix: 'cus_' },
    { path: '/v1/invoices', prefix: 'in_' },
  ];
  const pages: Record<string, string> = {};
  const sizes: string[] = [];
  for (const { path } of lists) {
    const page = await get(new Agent(), emulator.info.port!, `${path}?limit=100`);
    pages[path] = page.toString('base64');
    sizes.push(`${path} ${(page.length / 1024).toFixed(0)} KB`);
  }
  const baseline = await start(['baseline'], pages);
  console.log(`customers=${emulator.info.customers} objects=${emulator.info.objects}; page of 100: ${sizes.join(', ')}; clients=${clients}, ${seconds} s per run, ${runs} runs alternating`);
  for (const { path, prefix } of lists) {
    const emu: number[] = [];
    const base: number[] = [];
    for (let r = 0; r < runs; r++) {
      const a = await run(emulator.info.port!, path, prefix);
      const b = await run(baseline.info.port!, path, prefix);
      emu.push(a.pages);
      base.push(b.pages);
      console.log(`${path} run ${r + 1}: emulator ${a.pages.toFixed(0)} pages/s (${a.mb.toFixed(0)} MB/s), fixed-page baseline ${b.pages.toFixed(0)} pages/s (${b.mb.toFixed(0)} MB/s)`);
    }
    console.log(`${path} median: emulator ${median(emu).toFixed(0)} pages of 100/s, baseline ${median(base).toFixed(0)} pages/s, ratio ${(median(emu) / median(base)).toFixed(2)}`);
  }
  for (const c of [emulator.child, baseline.child]) {
    c.removeAllListeners('exit');
    c.kill();
  }
}
