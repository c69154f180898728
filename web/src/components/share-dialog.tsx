import { useEffect, useRef, useState, type MutableRef } from 'preact/hooks';
import { ApiError, plainMessage } from '../api/errors.ts';
import type { FileItem, Grant, ShareRole } from '../api/files-api.ts';
import { useApi } from '../api-context.ts';
import { Dialog } from './dialog.tsx';
import { RoleSelect } from './role-select.tsx';
import { StatusMessage } from './status-message.tsx';

/** The grant's address in the API: a share's user id, or an invitation's email. */
const granteeOf = (grant: Grant) => grant.userId ?? grant.email ?? '';
/** Who the owner sees: the address they typed, else the name or id the share was made with. */
const personOf = (grant: Grant) => grant.email ?? grant.displayName ?? grant.userId ?? 'someone';

/** Share a file: add people by email as viewer or editor, change their role, remove them. */
export function ShareDialog({ file, onClose }: { file: FileItem; onClose: () => void }) {
  const api = useApi();
  const [grants, setGrants] = useState<Grant[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  // A removed person's row takes its focused button with it: the focus goes back to Email.
  const emailInput = useRef<HTMLInputElement>(null);

  const reload = () =>
    api.files.shares(file.id).then(
      (page) => setGrants(page.items),
      (err) => setError(plainMessage(err)),
    );
  useEffect(() => void reload(), [file.id]);

  const attempt = async (work: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await work();
      return true;
    } catch (err) {
      setError(plainMessage(err));
      return false;
    } finally {
      await reload();
    }
  };

  return (
    <Dialog title={`Share ${file.name}`} onClose={onClose}>
      <div class="stack">
        <AddPersonForm
          inputRef={emailInput}
          onAdd={(email, role) =>
            attempt(() =>
              api.files.share(file.id, email, role).catch((err: unknown) => {
                if (err instanceof ApiError && err.status === 409) throw new Error(`${email} already has access. Change their role below.`);
                throw err;
              }),
            )
          }
        />
        {error && <StatusMessage kind="error">{error}</StatusMessage>}
        <PeopleList
          grants={grants}
          onRole={(grant, role) => attempt(() => api.files.changeRole(file.id, granteeOf(grant), role))}
          onRemove={async (grant) => {
            const removed = await attempt(() => api.files.unshare(file.id, granteeOf(grant)));
            emailInput.current?.focus();
            return removed;
          }}
        />
        <div class="dialog-buttons">
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Dialog>
  );
}

interface AddPersonFormProps {
  inputRef: MutableRef<HTMLInputElement | null>;
  onAdd: (email: string, role: ShareRole) => Promise<boolean>;
}

function AddPersonForm({ inputRef, onAdd }: AddPersonFormProps) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<ShareRole>('viewer');
  const [adding, setAdding] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (adding) return;
    setAdding(true);
    if (await onAdd(email.trim(), role)) setEmail('');
    setAdding(false);
  };
  return (
    <form class="add-person" onSubmit={submit}>
      <label class="field grow">
        <span>Email</span>
        <input ref={inputRef} data-autofocus type="email" required autoComplete="off" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Role</span>
        <RoleSelect value={role} onChange={setRole} />
      </label>
      <button type="submit" class="primary" aria-disabled={adding}>
        Add
      </button>
    </form>
  );
}

interface PeopleListProps {
  grants: Grant[] | undefined;
  onRole: (grant: Grant, role: ShareRole) => Promise<boolean>;
  onRemove: (grant: Grant) => Promise<boolean>;
}

function PeopleList({ grants, onRole, onRemove }: PeopleListProps) {
  if (!grants) return <p role="status">Loading people…</p>;
  if (grants.length === 0) return <p>Only you can see this file. Add someone by email above.</p>;
  return (
    <section aria-label="People with access">
      <h3 class="people-heading">People with access</h3>
      <ul class="people">
        {grants.map((grant) => {
          const person = personOf(grant);
          return (
            <li key={granteeOf(grant)} class="person">
              <span class="person-name">
                {person}
                {grant.status === 'pending' && <span class="badge">Invitation pending</span>}
              </span>
              <RoleSelect label={`Role for ${person}`} value={grant.role} onChange={(role) => void onRole(grant, role)} />
              <button type="button" class="danger" aria-label={`Remove ${person}`} onClick={() => void onRemove(grant)}>
                Remove
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
