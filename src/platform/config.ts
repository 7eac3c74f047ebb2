// One zod-validated configuration per command, read from CLI flags, then the environment, then
// `.data/services.env` (written by `ledgerline services up`). A bad or missing value stops start-up
// with a message naming the variable, its flag and what it expects — never the value itself,
// which may be a secret.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { projectRoot } from './project-root.ts';

export interface Setting<T extends z.ZodType = z.ZodType> {
  schema: T;
  description: string;
  /** Environment variable; derived from the key when omitted (`maxRps` → `MAX_RPS`). */
  env?: string;
  /** Boolean switches take no value on the command line. */
  switch?: boolean;
}

export type Settings = Record<string, Setting>;
export type ConfigOf<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const envName = (key: string, setting: Setting) => setting.env ?? key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Registers one CLI option per setting, so `--help` lists every variable a command reads. */
export function addSettingOptions(command: Command, settings: Settings): Command {
  for (const [key, setting] of Object.entries(settings)) {
    const flag = setting.switch ? flagName(key) : `${flagName(key)} <value>`;
    command.option(flag, `${setting.description} (env ${envName(key, setting)})`);
  }
  return command;
}

/** Values written by `ledgerline services up`, used when the environment does not say otherwise. */
export function readServicesEnv(root = projectRoot): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(root, '.data', 'services.env'), 'utf8');
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) out[match[1]!] = match[2]!.replace(/^'(.*)'$/, '$1');
  }
  return out;
}

export function loadConfig<S extends Settings>(
  settings: S,
  flags: Record<string, unknown> = {},
  env: Record<string, string | undefined> = { ...readServicesEnv(), ...process.env },
): ConfigOf<S> {
  const raw: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const fromEnv = env[envName(key, setting)];
    raw[key] = flags[key] ?? (fromEnv === '' ? undefined : fromEnv);
  }
  const shape = Object.fromEntries(Object.entries(settings).map(([k, s]) => [k, s.schema]));
  const result = z.object(shape).safeParse(raw);
  if (result.success) return result.data as ConfigOf<S>;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0]);
    const setting = settings[key]!;
    return `  - ${envName(key, setting)} (${flagName(key)}): ${issue.message}; ${setting.description}`;
  });
  throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}

// Building blocks for settings. Environment values are strings, so numbers and booleans coerce.
export const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
export const flag = () =>
  z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'expected true or false' })
    .default(false)
    .transform((v) => v === true || v === 'true' || v === '1');
export const urlWithScheme = (schemes: string[]) =>
  z.string({ error: 'is required' }).refine(
    (v) => {
      try {
        return schemes.includes(new URL(v).protocol.replace(':', ''));
      } catch {
        return false;
      }
    },
    { error: `expected a ${schemes.map((s) => `${s}://`).join(' or ')} URL` },
  );

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `2s`, `30m`, `24h`, `1d`, a bare number of milliseconds, or `0`/`off` (0). */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'off' || t === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(t);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!);
}

/** A duration setting, in milliseconds. */
export const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((v, ctx) => {
      const ms = typeof v === 'number' ? v : parseDuration(v);
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 6h, 1d, or 0/off' });
        return z.NEVER;
      }
      return ms;
    });

/** Settings every service shares. */
export const commonSettings = {
  databaseUrl: {
    schema: urlWithScheme(['postgres', 'postgresql']),
    description: 'Postgres connection URL (`ledgerline services up` provides one)',
  },
  redisUrl: {
    schema: urlWithScheme(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
    description: 'Redis 7+ connection URL',
  },
  kafkaBrokers: {
    schema: z
      .string()
      .regex(/^[^,\s:]+:\d+(,[^,\s:]+:\d+)*$/, { error: 'expected host:port[,host:port…]' })
      .optional(),
    description: 'Kafka bootstrap brokers; the event bus uses Redis Streams when unset',
  },
} satisfies Settings;
