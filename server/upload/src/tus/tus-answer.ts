import type { Context } from 'koa';

/** An answer of the tus endpoint, written raw by the Koa layer (tus.routes.ts). */
export interface TusAnswer {
  status: number;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export function text(status: number, message: string, headers: Record<string, string> = {}): TusAnswer {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers }, body: `${message}\n` };
}

/** Whether the request announces a body (a length above zero, or chunks). */
export function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  return (length !== '' && length !== '0') || ctx.get('transfer-encoding') !== '';
}

/** The upload id at the end of a tus `Location`. */
export function locationId(location: string | undefined): string | undefined {
  return location?.split('/').pop();
}
