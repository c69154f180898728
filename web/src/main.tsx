import { render } from 'preact';
import { App } from './app.tsx';
import { createApi } from './api/client.ts';
import './styles.css';

render(<App api={createApi()} />, document.getElementById('app')!);
