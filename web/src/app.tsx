import { useEffect, useState } from 'preact/hooks';
import { Redirect, Route, Switch } from 'wouter-preact';
import type { Api } from './api/client.ts';
import type { View } from './api/files-api.ts';
import { ApiContext } from './api-context.ts';
import { Layout } from './components/layout.tsx';
import { FilesView } from './views/files-view.tsx';
import { LoginView, RegisterView } from './views/sign-in.tsx';
import { PublicFileView } from './views/public-file.tsx';
import { UnfinishedUploadsView } from './views/unfinished-uploads.tsx';

const FILE_VIEWS: ReadonlyArray<readonly [string, View]> = [
  ['/', 'owned'],
  ['/shared', 'shared'],
  ['/shortcuts', 'shortcuts'],
  ['/trash', 'trash'],
];

/** Routes of ARCHITECTURE.md "Web app". Signed-out visitors see only sign-in and public pages. */
export function App({ api }: { api: Api }) {
  const [signedIn, setSignedIn] = useState(api.session.signedIn);
  useEffect(() => api.session.onChange(() => setSignedIn(api.session.signedIn)), [api]);

  return (
    <ApiContext.Provider value={api}>
      <Switch>
        <Route path="/p/:fileId">{(params) => <PublicFileView fileId={params.fileId} />}</Route>
        <Route path="/login">{signedIn ? <Redirect to="/" replace /> : <LoginView />}</Route>
        <Route path="/register">{signedIn ? <Redirect to="/" replace /> : <RegisterView />}</Route>
        {!signedIn && <Redirect to="/login" replace />}
        {FILE_VIEWS.map(([path, view]) => (
          <Route key={path} path={path}>
            {/* A key per view: each starts with its own list, query and dialogs. */}
            <Layout>
              <FilesView key={view} view={view} />
            </Layout>
          </Route>
        ))}
        <Route path="/uploads">
          <Layout>
            <UnfinishedUploadsView />
          </Layout>
        </Route>
        <Route>
          <Redirect to="/" replace />
        </Route>
      </Switch>
    </ApiContext.Provider>
  );
}
