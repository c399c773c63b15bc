import { Header } from './Header';
import { CapabilityStrip } from './CapabilityStrip';
import { StatusLine } from './StatusLine';
import { TeacherDrop } from './TeacherDrop';
import { TeacherCard } from './TeacherCard';
import { ResumeOffer } from './ResumeOffer';
import { CorpusDrop } from './CorpusDrop';
import { DistillPlanForm } from './DistillPlanForm';
import { CostPanel } from './CostPanel';
import { RunPanel } from './RunPanel';
import { RunCharts } from './RunCharts';
import { HybridAdvisorPanel } from './HybridAdvisorPanel';
import { MixingPanel } from './MixingPanel';
import { EvalPanel } from './EvalPanel';
import { ExportPanel } from './ExportPanel';
import { RunsPanel } from './RunsPanel';
import { MixerLabPanel } from './MixerLabPanel';

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
          <ResumeOffer />
          <CorpusDrop />
          <DistillPlanForm />
          <CostPanel />
        </div>
        <div className="column wide">
          <RunPanel />
          <HybridAdvisorPanel />
          <RunCharts />
          <MixingPanel />
          <EvalPanel />
          <ExportPanel />
          <RunsPanel />
          <MixerLabPanel />
        </div>
      </main>
    </div>
  );
}
