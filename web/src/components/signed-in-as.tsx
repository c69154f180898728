import { useEffect, useState } from 'preact/hooks';
import type { User } from '../api/auth-api.ts';
import { useApi } from '../api-context.ts';

/** The account's name or email, so that a shared computer shows whose vault this is. */
export function SignedInAs() {
  const api = useApi();
  const [user, setUser] = useState<User | undefined>(undefined);
  useEffect(() => {
    let current = true;
    api.auth.me().then(
      (me) => current && setUser(me),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [api]);
  if (!user) return null;
  return (
    <span class="signed-in-as" title={user.email}>
      {user.displayName || user.email}
    </span>
  );
}
