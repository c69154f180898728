import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { plainMessage } from '../api/errors.ts';
import { useApi } from '../api-context.ts';
import { useDocumentTitle } from '../components/document-title.ts';
import { StatusMessage } from '../components/status-message.tsx';
import { SignInForm, type Credentials } from '../components/sign-in-form.tsx';

/**
 * Both pages sign in the same way: the session adopts the tokens and the app's routes
 * switch to the signed-in screens by themselves.
 */
function useSignIn() {
  const api = useApi();
  const [error, setError] = useState<string | undefined>(undefined);
  const submitWith = (work: (c: Credentials) => Promise<void>) => async (credentials: Credentials) => {
    setError(undefined);
    try {
      await work(credentials);
    } catch (err) {
      setError(plainMessage(err));
    }
  };
  const logIn = async ({ email, password }: Credentials) => api.session.adopt(await api.auth.login(email, password));
  return { api, error, submitWith, logIn };
}

export function LoginView() {
  const { api, error, submitWith, logIn } = useSignIn();
  return (
    <SignInPage title="Log in to GoVault" tabTitle="Log in">
      {api.session.endedByServer && !error && <StatusMessage kind="info">Your session has ended. Log in again.</StatusMessage>}
      <SignInForm submitLabel="Log in" busyLabel="Logging in…" error={error} onSubmit={submitWith(logIn)} />
      <p>
        New here? <Link href="/register">Create an account</Link>
      </p>
    </SignInPage>
  );
}

export function RegisterView() {
  const { api, error, submitWith, logIn } = useSignIn();
  const register = async (credentials: Credentials) => {
    await api.auth.register(credentials.email, credentials.password, credentials.displayName);
    await logIn(credentials);
  };
  return (
    <SignInPage title="Create your GoVault account" tabTitle="Register">
      <SignInForm submitLabel="Register" busyLabel="Creating your account…" withDisplayName error={error} onSubmit={submitWith(register)} />
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </SignInPage>
  );
}

function SignInPage({ title, tabTitle, children }: { title: string; tabTitle: string; children: ComponentChildren }) {
  useDocumentTitle(tabTitle);
  return (
    <main class="sign-in">
      <p class="brand">GoVault</p>
      <h1>{title}</h1>
      {children}
    </main>
  );
}
