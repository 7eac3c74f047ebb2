// One of the processes sharing a limiter: on "go" it takes `count` slots and reports when it got
// each (epoch ms), then exits.
import { createSlidingWindowLimiter } from '../../../../src/billing/client/limiter.ts';
import { createRedis } from '../../../../src/platform/redis.ts';

const { REDIS_URL, LIMITER_NAME, PER_SECOND, COUNT } = process.env;
const redis = createRedis(REDIS_URL!, { name: 'limiter-child' });
const limiter = createSlidingWindowLimiter({ redis, perSecond: Number(PER_SECOND), name: LIMITER_NAME! });
await redis.ping();
process.send!('ready');
process.once('message', async () => {
  const times: number[] = [];
  for (let i = 0; i < Number(COUNT); i++) {
    await limiter.acquire();
    times.push(Date.now());
  }
  process.send!(times, () => {
    redis.disconnect();
    process.disconnect();
  });
});
