/**
 * `--queue redis://[user:password@]HOST:PORT[/DB]`: where the BullMQ queue of eval shards lives.
 */
import { DittoError } from '../../../core/errors.ts';

/** The BullMQ queue every `ditto eval --queue` and `ditto worker` uses on a Redis server. */
export const EVAL_QUEUE = 'ditto-eval';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** ioredis options BullMQ needs for workers (blocking commands never time out on their own). */
  maxRetriesPerRequest: null;
}

export function parseRedisUrl(text: string, flag = '--queue'): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DittoError('E_USAGE', `${flag} expects a Redis URL like redis://HOST:PORT, got '${text}'`);
  }
  if (url.protocol !== 'redis:') throw new DittoError('E_USAGE', `${flag} '${text}': only redis:// URLs are understood (got ${url.protocol}//)`);
  if (!url.hostname) throw new DittoError('E_USAGE', `${flag} '${text}' names no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new DittoError('E_USAGE', `${flag} '${text}': the path must be a database number (redis://HOST:PORT/0), got '/${dbText}'`);
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The URL without its password, for messages. */
export function showRedis(t: RedisTarget): string {
  return `redis://${t.host}:${t.port}${t.db ? `/${t.db}` : ''}`;
}
