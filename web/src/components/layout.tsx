import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { Link, useLocation } from 'wouter-preact';
import { useApi } from '../api-context.ts';
import { NoticeArea, NoticesProvider, useNotices } from './notices.tsx';
import { OfflineBanner } from './offline-banner.tsx';
import { SignedInAs } from './signed-in-as.tsx';

const NAVIGATION = [
  ['/', 'My files'],
  ['/shared', 'Shared with me'],
  ['/shortcuts', 'Shortcuts'],
  ['/trash', 'Trash'],
  ['/uploads', 'Unfinished uploads'],
] as const;

/** The signed-in frame: navigation, who is signed in, log out, the notices, the screen. */
export function Layout({ children }: { children: ComponentChildren }) {
  return (
    <NoticesProvider>
      <div class="layout">
        <a class="skip-link" href="#content">
          Skip to content
        </a>
        <TopBar />
        <main id="content" tabIndex={-1}>
          <OfflineBanner />
          <NoticeArea />
          <ClearNoticesOnNavigation />
          {children}
        </main>
      </div>
    </NoticesProvider>
  );
}

function TopBar() {
  const api = useApi();
  const [location] = useLocation();
  // Revoke on the server first; forget locally whatever it says (offline included).
  const logOut = async () => {
    await api.auth.logout().catch(() => undefined);
    api.session.forget();
  };
  return (
    <header class="top-bar">
      <span class="brand">GoVault</span>
      <nav aria-label="Main" class="main-nav">
        {NAVIGATION.map(([href, label]) => (
          <Link key={href} href={href} aria-current={location === href ? 'page' : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      <div class="account">
        <SignedInAs />
        <button type="button" onClick={logOut}>
          Log out
        </button>
      </div>
    </header>
  );
}

function ClearNoticesOnNavigation() {
  const [location] = useLocation();
  const { clear } = useNotices();
  useEffect(() => clear(), [location]);
  return null;
}
