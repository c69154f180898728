import type { Context, Next } from 'koa';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GoVault</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>GoVault is running</h1>
<p>The API is under <code>/api/</code>: register with <code>POST /api/auth/register</code>,
log in with <code>POST /api/auth/login</code>, upload with any tus client at
<code>/api/uploads/tus</code>, and list your files at <code>GET /api/files</code>.</p>
<p>The web app (Uppy) arrives here in a later release; see the README.</p>
</body></html>`;

/** The web app's place at `/`. */
export function webApp() {
  return async (ctx: Context, next: Next) => {
    if (ctx.method === 'GET' && (ctx.path === '/' || ctx.path === '/index.html')) {
      ctx.type = 'html';
      ctx.body = PAGE;
      return;
    }
    await next();
  };
}
