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
import { FairScheduler } from './password/fair-scheduler.ts';
import { BcryptPasswordHasher } from './password/password-hasher.ts';
import { UserEntity } from './user/user.entity.ts';
import { MikroOrmUserRepository } from './user/user.repository.ts';
import { internalUserRoutes, userRoutes } from './user/user.routes.ts';
import { UserService } from './user/user.service.ts';

const migrationsDir = fileURLToPath(new URL('../../../migrations/auth', import.meta.url));

/** Every caller auth has: the gateway (public routes) and files (user lookups). */
const KNOWN_CALLERS = ['gateway', 'files'] as const;

export async function buildAuthApp(config: AuthConfig, logger: Logger): Promise<{ app: Koa; close(): Promise<void> }> {
  const database: DatabaseSettings = { url: config.databaseUrl, schema: 'auth', migrationsDir };
  await migrate(database, logger);
  const orm = await openOrm(database, [UserEntity, RefreshTokenEntity]);

  const users = new UserService(
    new MikroOrmUserRepository(orm),
    new BcryptPasswordHasher(config.bcryptRounds),
    new FairScheduler(config.passwordHashing),
  );
  const signingKeys = loadSigningKeys(config.signingKeyDir);
  const sessions = new SessionService(
    users,
    new MikroOrmRefreshTokenRepository(orm),
    new JwtAccessTokenSigner(signingKeys, config.accessTokenTtlSeconds),
    config.refreshTokenTtlSeconds,
    new PostgresLoginThrottle(orm, config.loginThrottle),
    config.refreshReuseGraceSeconds,
  );

  const app = createServiceApp({
    logger,
    metrics: createMetrics('auth'),
    readiness: { database: () => pingDatabase(orm) },
  });
  // Every request needs a token from some GoVault service before anything is parsed or
  // routed; then each route names the one caller it serves (ARCHITECTURE.md, Internal).
  const verifier = InternalTokenVerifier.fromKeyDir(config.internalKeyDir, 'auth');
  app.use(requireInternalToken(verifier, KNOWN_CALLERS));
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
  const fromGateway = requireInternalToken(verifier, ['gateway']);
  const fromFiles = requireInternalToken(verifier, ['files']);
  for (const router of [
    userRoutes(users, fromGateway),
    tokenRoutes(sessions, signingKeys, fromGateway),
    internalUserRoutes(users, fromFiles),
  ]) {
    app.use(router.routes());
  }

  return { app, close: () => orm.close() };
}
