import { RunButton } from './RunButton';
import { StageProgress } from './StageProgress';
import { RunStats } from './RunStats';

export function RunPanel() {
  return (
    <section className="panel run-panel" data-testid="run-panel">
      <RunButton />
      <StageProgress />
      <RunStats />
    </section>
  );
}
