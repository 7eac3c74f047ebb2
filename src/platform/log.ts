import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redactDeep, redactSecrets } from './redact.ts';

export type { Logger };

/** Header and field names whose values are replaced wholesale. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  ...['password', 'apiKey', 'stripeKey', 'secret'].flatMap((key) => [key, `*.${key}`]),
];

export function createLogger(options: { name: string; level?: string } & LoggerOptions, destination?: DestinationStream): Logger {
  return pino(
    {
    level: process.env.LOG_LEVEL ?? 'info',
    ...options,
    redact: { paths: REDACT_PATHS, censor: '***' },
    serializers: {
      err: (err: unknown) => {
        // `{ err: 'text' }` is logged too; pino's serializer expects an Error and would throw.
        if (!(err instanceof Error)) return redactDeep(err);
        const out = stdSerializers.err(err);
        out.message = redactSecrets(out.message);
        if (out.stack) out.stack = redactSecrets(out.stack);
        return out;
      },
    },
    // Messages may quote URLs or keys from third-party errors: mask them at the last moment.
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
    },
    destination,
  );
}
