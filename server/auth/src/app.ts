import { fileURLToPath } from 'node:url';
import { bodyParser } from '@koa/bodyparser';
import {
  InternalTokenVerifier,
  createMetrics,
  createServiceApp,
  migrate,
  openOrm,
  pingDatabase,
  requireInternalToken,
  type DatabaseSettings,
  type Logger,
} from '@govault/lib';
import type Koa from 'koa';
import type { AuthConfig } from './config.ts';
import { JwtAccessTokenSigner } from './token/access-token.ts';
import { PostgresLoginThrottle } from './token/login-throttle.ts';
import { RefreshTokenEntity } from './token/refresh-token.entity.ts';
import { MikroOrmRefreshTokenRepository } from './token/refresh-token.repository.ts';
import { SessionService } from './token/session.service.ts';
import { loadSigningKeys } from './token/signing-keys.ts';
import { tokenRoutes } from './token/token.routes.ts';
import { BcryptPasswordHasher } from './user/password-hasher.ts';
import { UserEntity } from './user/user.entity.ts';
import { MikroOrmUserRepository } from './user/user.repository.ts';
import { internalUserRoutes, userRoutes } from './user/user.routes.ts';
import { UserService } from './user/user.service.ts';

const migrationsDir = fileURLToPath(new URL('../../../migrations/auth', import.meta.url));

/** Public routes are reached only through the gateway; lookups also by the other services. */
const PUBLIC_CALLERS = ['gateway'] as const;
const INTERNAL_CALLERS = ['files', 'upload', 'gateway'] as const;

export async function buildAuthApp(config: AuthConfig, logger: Logger): Promise<{ app: Koa; close(): Promise<void> }> {
  const database: DatabaseSettings = { url: config.databaseUrl, schema: 'auth', migrationsDir };
  await migrate(database, logger);
  const orm = await openOrm(database, [UserEntity, RefreshTokenEntity]);

  const users = new UserService(new MikroOrmUserRepository(orm), new BcryptPasswordHasher(config.bcryptRounds));
  const signingKeys = loadSigningKeys(config.signingKeyDir);
  const sessions = new SessionService(
    users,
    new MikroOrmRefreshTokenRepository(orm),
    new JwtAccessTokenSigner(signingKeys, config.accessTokenTtlSeconds),
    config.refreshTokenTtlSeconds,
    new PostgresLoginThrottle(orm, config.loginThrottle),
  );

  const app = createServiceApp({
    logger,
    metrics: createMetrics('auth'),
    readiness: { database: () => pingDatabase(orm) },
  });
  app.use(internalTokenGate(InternalTokenVerifier.fromKeyDir(config.internalKeyDir, 'auth')));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  for (const router of [userRoutes(users), tokenRoutes(sessions, signingKeys), internalUserRoutes(users)]) {
    app.use(router.routes());
  }

  return { app, close: () => orm.close() };
}

/** Every request needs an internal token; which callers may send it depends on the path. */
function internalTokenGate(verifier: InternalTokenVerifier): Koa.Middleware {
  const publicApi = requireInternalToken(verifier, PUBLIC_CALLERS);
  const internal = requireInternalToken(verifier, INTERNAL_CALLERS);
  return (ctx, next) => (ctx.path.startsWith('/internal/') ? internal(ctx, next) : publicApi(ctx, next));
}
