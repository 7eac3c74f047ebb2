// The queue dashboard, bull-board's equivalent for this queue (bull-board only reads Bull/BullMQ):
// /dashboard is a page that polls /dashboard/data every 2 s — queue depth, workers and what each
// holds, scheduled retries, dead letters, recent outcomes, the outbox backlog. Behind the API
// keys like every payments route (browsers: HTTP Basic with the key as password).
import type { FastifyInstance } from 'fastify';
import type { ReadModel } from './queries.ts';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ledgerline payments</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:15px;margin-top:24px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:4px 10px;text-align:left}
.dead{color:#b00}.ok{color:#080}
</style></head><body>
<h1>Ledgerline payments</h1><div id="when"></div>
<div class="cards" id="cards"></div>
<h2>Workers</h2><table id="workers"></table>
<h2>Scheduled retries</h2><table id="retries"></table>
<h2>Dead letters</h2><table id="dead"></table>
<h2>Recent outcomes</h2><table id="recent"></table>
<script>
const esc = (v) => String(v ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const table = (id, head, rows) => { document.getElementById(id).innerHTML = '<tr>' + head.map((h) => '<th>' + h + '</th>').join('') + '</tr>' + rows.map((r) => '<tr>' + r.map((c) => '<td>' + c + '</td>').join('') + '</tr>').join(''); };
async function refresh() {
  const res = await fetch('dashboard/data', { credentials: 'same-origin' });
  if (!res.ok) { document.getElementById('when').textContent = 'HTTP ' + res.status; return; }
  const d = await res.json();
  document.getElementById('when').textContent = 'as of ' + new Date(d.now).toISOString();
  const cards = [['queued', d.queue_depth], ['in flight', d.in_flight], ['retrying', d.retry_scheduled], ['dead letters', d.dead_letters], ['open', d.open],
    ['oldest open', Math.round(d.oldest_open_age_ms / 1000) + ' s'], ['outbox backlog', d.outbox_backlog], ...Object.entries(d.outcomes)];
  document.getElementById('cards').innerHTML = cards.map(([k, v]) => '<div class="card">' + esc(k) + '<b>' + esc(v) + '</b></div>').join('');
  table('workers', ['worker', 'alive', 'in flight', 'host', 'pid', 'concurrency', 'since'], d.workers.map((w) => [esc(w.id), w.alive ? '<span class="ok">yes</span>' : '<span class="dead">no</span>', esc(w.in_flight), esc(w.host), esc(w.pid), esc(w.concurrency), esc(w.started_at)]));
  table('retries', ['tracking id', 'due'], d.next_retries.map((r) => [esc(r.tracking_id), esc(r.due_at)]));
  table('dead', ['tracking id', 'payer', 'amount', 'attempts', 'reason', 'last error'], d.dead_letter_payments.map((p) => [esc(p.tracking_id), esc(p.payer_id), esc(p.amount + ' ' + p.currency), esc(p.attempts), esc(p.reason), esc(p.last_error)]));
  table('recent', ['tracking id', 'status', 'at'], d.recent_outcomes.map((o) => [esc(o.tracking_id), esc(o.status), esc(o.at)]));
}
refresh(); setInterval(refresh, 2000);
</script></body></html>`;

export function registerDashboard(app: FastifyInstance, reads: ReadModel): void {
  app.get('/dashboard', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE));

  app.get('/dashboard/data', async () => {
    const [o, dead] = await Promise.all([reads.overview({ recent: 20 }), reads.deadLetters(20)]);
    return {
      now: new Date(o.now).toISOString(),
      queue_depth: o.queueDepth,
      in_flight: o.inFlight,
      retry_scheduled: o.retryScheduled,
      dead_letters: o.deadLetters,
      open: o.open,
      oldest_open_age_ms: o.oldestOpenAgeMs,
      outbox_backlog: o.outboxBacklog,
      outcomes: o.outcomes,
      workers: o.workers,
      next_retries: o.nextRetries,
      dead_letter_payments: dead.data,
      recent_outcomes: o.recentOutcomes,
    };
  });
}
