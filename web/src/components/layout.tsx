import type { ComponentChildren } from 'preact';
import { Link } from 'wouter-preact';
import { useApi } from '../api-context.ts';

const NAVIGATION = [
  ['/', 'My files'],
  ['/shared', 'Shared with me'],
  ['/shortcuts', 'Shortcuts'],
  ['/trash', 'Trash'],
  ['/uploads', 'Unfinished uploads'],
] as const;

/** The signed-in frame: navigation, log out, the screen. */
export function Layout({ children }: { children: ComponentChildren }) {
  const api = useApi();
  const logOut = async () => {
    await api.auth.logout().catch(() => undefined);
    api.session.forget();
  };
  return (
    <div class="layout">
      <header class="top-bar">
        <span class="brand">GoVault</span>
        <nav aria-label="Main">
          {NAVIGATION.map(([href, label]) => (
            <Link key={href} href={href}>{label}</Link>
          ))}
        </nav>
        <button type="button" onClick={logOut}>Log out</button>
      </header>
      <main>{children}</main>
    </div>
  );
}
