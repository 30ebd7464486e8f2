import { DAGRE_MAX_NODES, layoutGraph, type GraphLayout, type GraphTask } from './graph-layout';
import { layoutLayered } from './layered-layout';

/** Dagre's layout for a graph it lays out quickly, the cheap layered one above that. */
export function chooseLayout(tasks: readonly GraphTask[]): GraphLayout {
  return tasks.length <= DAGRE_MAX_NODES ? layoutGraph(tasks) : layoutLayered(tasks);
}
