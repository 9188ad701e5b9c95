// Sizes in reports: `12 B`, `3.5 KiB`, `16 KiB` (IEC units, as registries and `du -h` count).
// At the ground floor so that any report (apply, promote, sync, deltas) can use it without
// importing another room's view.

/** 1536 → `1.5 KiB`, 16384 → `16 KiB`; null (a size nobody knows) → `?`. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '?';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
