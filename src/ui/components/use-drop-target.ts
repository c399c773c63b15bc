import { useRef, useState, type DragEvent } from 'react';

/**
 * The drag-and-drop wiring of a drop zone: a highlight while files are over it, and `onFiles` with
 * the drop's DataTransfer unless `disabled`. Spread `props` on the zone's element.
 */
export function useDropTarget(disabled: boolean, onFiles: (data: DataTransfer) => void) {
  const [over, setOver] = useState(false);
  // dragenter/dragleave fire for children too: only the last one out clears the highlight.
  const depth = useRef(0);
  const props = {
    onDragEnter: (e: DragEvent<HTMLDivElement>) => {
      e.preventDefault();
      depth.current++;
      setOver(true);
    },
    onDragOver: (e: DragEvent<HTMLDivElement>) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = disabled ? 'none' : 'copy';
    },
    onDragLeave: () => {
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setOver(false);
    },
    onDrop: (e: DragEvent<HTMLDivElement>) => {
      e.preventDefault();
      depth.current = 0;
      setOver(false);
      if (!disabled) onFiles(e.dataTransfer);
    },
  };
  return { over, props };
}
