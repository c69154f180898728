import { useState } from 'preact/hooks';
import { StatusMessage } from './status-message.tsx';

export interface Credentials {
  email: string;
  password: string;
  displayName?: string;
}

interface SignInFormProps {
  submitLabel: string;
  busyLabel: string;
  withDisplayName?: boolean;
  error: string | undefined;
  onSubmit: (credentials: Credentials) => Promise<void>;
}

/** Email and password (and a display name to register), labelled, with the browser's password manager in mind. */
export function SignInForm({ submitLabel, busyLabel, withDisplayName = false, error, onSubmit }: SignInFormProps) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    await onSubmit({ email: email.trim(), password, ...(withDisplayName && displayName.trim() ? { displayName: displayName.trim() } : {}) });
    setBusy(false);
  };

  return (
    <form class="stack sign-in-form" onSubmit={submit}>
      {withDisplayName && (
        <label class="field">
          <span>Display name (optional)</span>
          <input type="text" autoComplete="name" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
        </label>
      )}
      <label class="field">
        <span>Email</span>
        <input type="email" required autoComplete={withDisplayName ? 'email' : 'username'} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Password</span>
        <input
          type="password"
          required
          autoComplete={withDisplayName ? 'new-password' : 'current-password'}
          aria-describedby={withDisplayName ? 'password-rule' : undefined}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {withDisplayName && (
        <p id="password-rule" class="hint">
          At least 8 characters.
        </p>
      )}
      {error && <StatusMessage kind="error">{error}</StatusMessage>}
      <button type="submit" class="primary" aria-disabled={busy}>
        {busy ? busyLabel : submitLabel}
      </button>
    </form>
  );
}
