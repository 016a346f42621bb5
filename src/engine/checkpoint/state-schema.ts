import { RivuletError } from '../../core/errors.js';
import type { Aggregate } from '../aggregates.js';
import type { GraphNode } from '../graph.js';

/**
 * The shape of an operator's state, as text: what a checkpoint's state was built for. State is
 * restored into an operator of the same id only when its schema is the same; a pipeline whose new code
 * changed it (other aggregates, another window, other state declarations, a bumped `stateVersion`)
 * fails at start instead of reading state it would misunderstand.
 *
 * Functions (map, key, join and aggregate bodies) are not part of it: changing their code keeps the
 * state, as upgrades should. `undefined` for nodes without state.
 * A checkpoint's schemas name the operators that had state; one removed and later added again under
 * the same id starts empty (see `checkSchemas`).
 */
export function stateSchema(node: GraphNode): string | undefined {
  switch (node.kind) {
    case 'window':
      return `window ${JSON.stringify(node.spec)} aggregates ${aggregateShapes(node.aggregates)}`;
    case 'aggregate':
      return `aggregate ${aggregateShapes(node.aggregates)}`;
    case 'process': {
      const decls = Object.entries(node.fn.state ?? {}).map(([name, d]) => `${name}:${d.kind}`);
      return `process state ${decls.join(',')} version ${node.fn.stateVersion ?? 1}`;
    }
    case 'intervalJoin':
      return `intervalJoin before=${node.before} after=${node.after}`;
    case 'windowJoin':
      return `windowJoin ${JSON.stringify(node.spec)}`;
    case 'tableJoin':
      return `tableJoin ${node.mode.type} ${node.mode.version}`;
    default:
      return undefined;
  }
}

/**
 * Each aggregate's name and the shape of its empty accumulator (`n=0`, `top=null`, `avg=[0,0]`, a
 * sketch's parameters): replacing `count()` by `max()` under one name changes the shape. Settings
 * that leave stored state readable (lateness, emit mode, TTLs) are not part of it.
 */
function aggregateShapes(aggregates: Record<string, Aggregate<unknown, unknown, unknown>>): string {
  return Object.entries(aggregates).map(([name, agg]) => {
    let shape: string;
    try {
      shape = JSON.stringify(agg.create()) ?? 'undefined';
    } catch {
      shape = '?';
    }
    return `${name}=${shape.length > 80 ? `${shape.slice(0, 80)}…` : shape}`;
  }).join(',');
}

/** The schemas of every stateful node of a graph below `roots`, by node id. */
export function stateSchemas(roots: readonly GraphNode[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<GraphNode>();
  const visit = (n: GraphNode) => {
    if (seen.has(n)) return;
    seen.add(n);
    const s = stateSchema(n);
    if (s !== undefined) out[n.id] = s;
    for (const c of n.children) visit(c);
  };
  for (const r of roots) visit(r);
  return out;
}

/** A pipeline's new code gives an operator state of another shape than its checkpoint holds. */
export class StateSchemaError extends RivuletError {
  override name = 'StateSchemaError';
  constructor(readonly pipeline: string, readonly operator: string, readonly stored: string, readonly current: string) {
    super('state_schema_mismatch', `pipeline '${pipeline}': the checkpoint holds state of operator '${operator}' as "${stored}", `
      + `but the pipeline now declares "${current}"; give the changed operator a new uid (its state then starts empty) or restore the previous code`);
  }
}

/**
 * Which operators of a checkpoint keep their state in the new code: those whose id and schema are
 * unchanged. Throws {@link StateSchemaError} for an id whose schema changed.
 */
export function checkSchemas(pipeline: string, stored: Record<string, string> | undefined, current: Record<string, string>): void {
  for (const [id, schema] of Object.entries(stored ?? {})) {
    const now = current[id];
    if (now !== undefined && now !== schema) throw new StateSchemaError(pipeline, id, schema, now);
  }
}
