// Room on disk for a run's checkpoints, checked before anything is trained: a 7B-class student's
// checkpoint is tens of GB, and a disk that fills at the end of stage 2 (as one did on the GPU
// machine) loses hours of work, where the numbers below were known before the first step.
import type { ArchConfig } from '../io/config';
import { studentShapes } from '../models/student';
import { heldShapes, streamedStudentOnGpu, studentSpec, type DistillPlan } from './plan';

const count = (shapes: Map<string, number[]>) => [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

export interface RunDiskBytes {
  /** One checkpoint: the trained parameters and AdamW's two moments, f32 (checkpoint.ts). */
  checkpoint: number;
  /** The most a save holds at once: both new files are written beside the last checkpoint's before either replaces it. */
  saving: number;
  /** The exported student (model.safetensors, every tensor f32, frozen MLPs included). */
  export: number;
  /**
   * A streamed plan of stages 1–2 alone whose host keeps the student in a scratch file on the same
   * disk (the CLI's --out, the page's OPFS): its parameters and moments, f32, there all through the run.
   */
  scratch?: number;
}

/**
 * What a plan's run writes (`scratchFile`: the student off the GPU goes to a scratch file on that disk);
 * an auto:K plan is counted as the student before its layers are chosen.
 */
export function runDiskBytes(config: ArchConfig, plan: DistillPlan, scratchFile = false): RunDiskBytes {
  const spec = studentSpec(config, plan);
  const trained = count(heldShapes(spec, plan));
  // student.safetensors (4 bytes a float) and optimizer.safetensors (m and v); headers are small.
  const checkpoint = 12 * trained;
  // checkpoint.ts's writeAll: the new student and optimizer files beside the old ones.
  const bytes: RunDiskBytes = { checkpoint, saving: 2 * checkpoint, export: 4 * count(studentShapes(spec)) };
  if (scratchFile && plan.streamLayers && !streamedStudentOnGpu(plan)) bytes.scratch = 12 * trained;
  return bytes;
}

export class DiskRoomError extends Error {
  override name = 'DiskRoomError';
}

const gb = (b: number) => `${(b / 1e9).toFixed(b < 1e10 ? 2 : 1)} GB`;

/**
 * Throws when a run needs more room than its store has. `free`: bytes the store may still write;
 * `held`: bytes its current checkpoint takes (replaced by the run's saves); `withExport`: the
 * exported student is written to the same disk (the CLI's --out; the page downloads it instead).
 * `hint.freezeMlp`: the name of the frozen-MLP option to suggest, null when the plan has it on.
 */
export function checkDiskRoom(
  bytes: RunDiskBytes,
  room: { free: number; held: number; where: string; withExport: boolean },
  hint: { freezeMlp: string | null; remedy: string },
): void {
  const need = (bytes.scratch ?? 0) + Math.max(bytes.saving, bytes.checkpoint + (room.withExport ? bytes.export : 0));
  if (need <= room.free + room.held) return;
  const parts = [
    `each checkpoint holds the trained parameters and their two AdamW moments in f32, ${gb(bytes.checkpoint)}, and a save writes its files beside the last ones (${gb(bytes.saving)} at most)`,
  ];
  if (room.withExport) parts.push(`the exported student takes ${gb(bytes.export)} beside the last checkpoint`);
  if (bytes.scratch) parts.push(`while stages 1–2 stream, the student's parameters and moments take ${gb(bytes.scratch)} in a scratch file beside them`);
  const have = `${room.where} has ${gb(room.free)} free${room.held ? ` besides the ${gb(room.held)} of the checkpoint there` : ''}`;
  const fixes = ['free disk space', hint.freezeMlp && `${hint.freezeMlp} (the MLPs stay the teacher's and are not saved)`, hint.remedy].filter(Boolean);
  throw new DiskRoomError(`not enough disk for this run (${gb(need)} needed, ${gb(room.free + room.held)} there): ${parts.join('; ')}; ${have}. Before anything trains: ${fixes.join(', or ')}`);
}
