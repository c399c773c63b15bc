import { Header } from './Header';
import { CapabilityStrip } from './CapabilityStrip';
import { StatusLine } from './StatusLine';
import { TeacherDrop } from './TeacherDrop';
import { TeacherCard } from './TeacherCard';
import { PlanControls } from './PlanControls';
import { LossChart } from './LossChart';
import { RunStats } from './RunStats';

export function App() {
  return (
    <div className="app">
      <Header />
      <CapabilityStrip />
      <StatusLine />
      <main className="layout">
        <div className="column side">
          <TeacherDrop />
          <TeacherCard />
          <PlanControls />
        </div>
        <div className="column wide">
          <LossChart />
          <section className="panel">
            <RunStats />
          </section>
        </div>
      </main>
    </div>
  );
}
