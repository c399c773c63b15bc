import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import 'uplot/dist/uPlot.min.css';
import './ui/styles.css';
import { App } from './ui/components/App';
import { startEngine } from './ui/engine-actions';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

// Outside React: the engine is one per page, not one per (StrictMode double) mount.
void startEngine();

// A file dropped beside the drop zone would otherwise make the browser open it, losing the run.
for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (e) => e.preventDefault());
