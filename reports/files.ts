/**
 * Small path helpers shared by the report writers.
 *
 * @module
 */

/** The directory part of a path (`""` when there is none). */
export function dirnameOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (i < 0) return "";
  if (i === 0) return "/";
  return path.slice(0, i);
}
