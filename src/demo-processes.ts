// The demo's process supervisor: every part's role runs as its own `ledgerline <part> <role>`
// process, as it would in production, with its output prefixed by its name. A role that exits
// is started again after a pause (a demo outlives a crash); stop() ends them all with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from './platform/project-root.ts';
import { sleep } from './platform/timeout.ts';

export interface RoleSpec {
  /** `part role`, e.g. `payments worker`. */
  name: string;
  args: string[];
  env: Record<string, string>;
  /** Where it answers /ping, if it serves HTTP. */
  url?: string;
  /** A URL whose /ping must answer before this role starts (the server it cannot start without). */
  after?: string;
}

export interface RoleState {
  name: string;
  url?: string;
  running: boolean;
  restarts: number;
  lastExit?: string;
}

export interface Supervisor {
  states(): RoleState[];
  stop(): Promise<void>;
}

const RESTART_DELAY_MS = 2000;
const STOP_GRACE_MS = 10_000;

export function superviseRoles(specs: RoleSpec[], options: { env: NodeJS.ProcessEnv; log: (line: string) => void }): Supervisor {
  const cli = join(projectRoot, 'src', 'cli.ts');
  let stopping = false;
  const roles = specs.map((spec) => ({ spec, state: { name: spec.name, url: spec.url, running: false, restarts: 0 } as RoleState, child: undefined as ChildProcess | undefined }));

  const answers = (url: string) => fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
  const start = async (role: (typeof roles)[number]): Promise<void> => {
    while (role.spec.after && !stopping && !(await answers(role.spec.after))) await sleep(250);
    if (stopping) return;
    // process.execPath is the Node that runs the demo (24, from scripts/node), so no shell hop.
    const child = spawn(process.execPath, [cli, ...role.spec.args], { env: { ...options.env, ...role.spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    role.child = child;
    role.state.running = true;
    const width = Math.max(...specs.map((s) => s.name.length));
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => options.log(`${role.spec.name.padEnd(width)} | ${line}`));
    }
    child.on('exit', (code, signal) => {
      role.state.running = false;
      role.state.lastExit = signal ? `signal ${signal}` : `code ${code}`;
      if (stopping) return;
      options.log(`demo: ${role.spec.name} exited (${role.state.lastExit}); starting it again in ${RESTART_DELAY_MS / 1000} s`);
      setTimeout(() => {
        if (stopping) return;
        role.state.restarts++;
        void start(role);
      }, RESTART_DELAY_MS).unref();
    });
  };
  for (const role of roles) void start(role);

  return {
    states: () => roles.map((r) => ({ ...r.state })),
    async stop() {
      stopping = true;
      await Promise.all(
        roles.map(({ child, state }) => {
          if (!child || !state.running) return;
          return new Promise<void>((resolve) => {
            const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          });
        }),
      );
    },
  };
}
