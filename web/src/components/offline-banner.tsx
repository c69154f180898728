import { useEffect, useState } from 'preact/hooks';

/** The browser says there is no network: say so before a request fails. */
export function OfflineBanner() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    addEventListener('online', update);
    addEventListener('offline', update);
    return () => {
      removeEventListener('online', update);
      removeEventListener('offline', update);
    };
  }, []);
  return (
    <div role="status" class={online ? 'notice-empty' : 'notice notice-warning'}>
      {!online && 'You are offline. Nothing can be loaded or changed until the connection is back.'}
    </div>
  );
}
