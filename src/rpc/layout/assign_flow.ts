// Integer flow networks for the partition assignment (see docs/layout-assignment.md).
//
// Two algorithms share one representation:
// - Dinic's max flow, used for the feasibility checks of a partition size;
// - primal-dual min-cost max flow (Dijkstra on reduced costs, then a Dinic
//   blocking flow restricted to the zero-reduced-cost arcs), used to pick,
//   among all assignments of the optimal partition size, one that moves the
//   fewest replicas. With small integer costs it needs only a handful of
//   Dijkstra rounds, unlike successive shortest paths which would need one
//   per unit of flow (thousands here).
//
// Everything is deterministic: arcs are scanned in insertion order.

/** A directed network with integer capacities and costs; arc `a ^ 1` is the reverse of arc `a`. */
export class FlowGraph {
  readonly vertexCount: number;
  private readonly fromList: number[] = [];
  private readonly toList: number[] = [];
  private readonly capList: number[] = [];
  private readonly costList: number[] = [];
  // Frozen compressed adjacency, built on first use; edges cannot be added after.
  private frozen = false;
  private from = new Int32Array(0);
  private to = new Int32Array(0);
  private cap = new Int32Array(0);
  private cost = new Float64Array(0);
  private adjStart = new Int32Array(0);
  private adj = new Int32Array(0);
  private level = new Int32Array(0);
  private iter = new Int32Array(0);
  private pot = new Float64Array(0);

  /** Creates an empty network over vertices 0..vertexCount-1. */
  constructor(vertexCount: number) {
    this.vertexCount = vertexCount;
  }

  /** Adds an arc u→v and returns its id (the residual reverse arc is id+1). */
  addEdge(u: number, v: number, capacity: number, cost = 0): number {
    if (this.frozen) throw new Error('FlowGraph: edge added after solving');
    const id = this.fromList.length;
    this.fromList.push(u, v);
    this.toList.push(v, u);
    this.capList.push(capacity, 0);
    this.costList.push(cost, -cost);
    return id;
  }

  /** Units of flow currently carried by arc `arc` (as returned by addEdge). */
  flowOn(arc: number): number {
    this.freeze();
    return this.cap[arc ^ 1];
  }

  /** Maximum flow from s to t (Dinic); the flow stays in the graph for flowOn. */
  maxFlow(s: number, t: number): number {
    this.freeze();
    let total = 0;
    while (this.bfs(s, t, false)) total += this.blockingFlow(s, t, false);
    return total;
  }

  /** Minimum-cost maximum flow from s to t (primal-dual); returns its value and cost. */
  minCostMaxFlow(s: number, t: number): { flow: number; cost: number } {
    this.freeze();
    const n = this.vertexCount;
    const dist = new Float64Array(n);
    const heap = new MinHeap();
    let total = 0;
    for (;;) {
      // Costs reduced by the potentials are non-negative on every residual
      // arc (all costs start non-negative with zero flow), so Dijkstra applies.
      dist.fill(Infinity);
      dist[s] = 0;
      heap.clear();
      heap.push(0, s);
      while (heap.size > 0) {
        const d = heap.topKey();
        const u = heap.pop();
        if (d > dist[u]) continue;
        const pu = this.pot[u];
        for (let i = this.adjStart[u], e = this.adjStart[u + 1]; i < e; i++) {
          const a = this.adj[i];
          if (this.cap[a] <= 0) continue;
          const w = this.to[a];
          const nd = d + this.cost[a] + pu - this.pot[w];
          if (nd < dist[w]) {
            dist[w] = nd;
            heap.push(nd, w);
          }
        }
      }
      const reach = dist[t];
      if (reach === Infinity) break;
      // Capping at dist[t] keeps every reduced cost non-negative, including
      // on vertices the search did not reach or reached beyond the sink.
      for (let v = 0; v < n; v++) this.pot[v] += Math.min(dist[v], reach);
      // Every shortest path now uses only zero-reduced-cost arcs; push as much
      // as possible through that admissible subgraph before the next search.
      while (this.bfs(s, t, true)) total += this.blockingFlow(s, t, true);
    }
    let cost = 0;
    for (let a = 0; a < this.cap.length; a += 2) cost += this.cap[a + 1] * this.cost[a];
    return { flow: total, cost };
  }

  private freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    const m = this.fromList.length;
    const n = this.vertexCount;
    this.from = Int32Array.from(this.fromList);
    this.to = Int32Array.from(this.toList);
    this.cap = Int32Array.from(this.capList);
    this.cost = Float64Array.from(this.costList);
    this.adjStart = new Int32Array(n + 1);
    for (let a = 0; a < m; a++) this.adjStart[this.from[a] + 1]++;
    for (let v = 0; v < n; v++) this.adjStart[v + 1] += this.adjStart[v];
    const fill = this.adjStart.slice(0, n);
    this.adj = new Int32Array(m);
    for (let a = 0; a < m; a++) this.adj[fill[this.from[a]]++] = a;
    this.level = new Int32Array(n);
    this.iter = new Int32Array(n);
    this.pot = new Float64Array(n);
  }

  private usable(a: number, withCost: boolean): boolean {
    if (this.cap[a] <= 0) return false;
    return !withCost || this.cost[a] + this.pot[this.from[a]] - this.pot[this.to[a]] === 0;
  }

  private bfs(s: number, t: number, withCost: boolean): boolean {
    this.level.fill(-1);
    const queue = new Int32Array(this.vertexCount);
    let head = 0;
    let tail = 0;
    this.level[s] = 0;
    queue[tail++] = s;
    while (head < tail) {
      const u = queue[head++];
      for (let i = this.adjStart[u], e = this.adjStart[u + 1]; i < e; i++) {
        const a = this.adj[i];
        const w = this.to[a];
        if (this.level[w] < 0 && this.usable(a, withCost)) {
          this.level[w] = this.level[u] + 1;
          queue[tail++] = w;
        }
      }
    }
    return this.level[t] >= 0;
  }

  // Iterative depth-first augmentation with current-arc pointers, so deep
  // residual paths cannot overflow the call stack.
  private blockingFlow(s: number, t: number, withCost: boolean): number {
    this.iter.set(this.adjStart.subarray(0, this.vertexCount));
    const path = new Int32Array(this.vertexCount);
    let total = 0;
    for (;;) {
      let v = s;
      let depth = 0;
      while (v !== t) {
        let advanced = false;
        for (const e = this.adjStart[v + 1]; this.iter[v] < e; this.iter[v]++) {
          const a = this.adj[this.iter[v]];
          const w = this.to[a];
          if (this.level[w] === this.level[v] + 1 && this.usable(a, withCost)) {
            path[depth++] = a;
            v = w;
            advanced = true;
            break;
          }
        }
        if (!advanced) {
          if (v === s) return total;
          // Dead end: no augmenting path goes through v in this phase.
          this.level[v] = -1;
          v = this.from[path[--depth]];
          this.iter[v]++;
        }
      }
      let push = Infinity;
      for (let i = 0; i < depth; i++) push = Math.min(push, this.cap[path[i]]);
      for (let i = 0; i < depth; i++) {
        this.cap[path[i]] -= push;
        this.cap[path[i] ^ 1] += push;
      }
      total += push;
    }
  }
}

// Binary min-heap of (key, vertex) with lazy deletion by the caller.
class MinHeap {
  private keys: number[] = [];
  private vals: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  clear(): void {
    this.keys.length = 0;
    this.vals.length = 0;
  }

  topKey(): number {
    return this.keys[0];
  }

  push(key: number, val: number): void {
    const keys = this.keys;
    const vals = this.vals;
    let i = keys.length;
    keys.push(key);
    vals.push(val);
    while (i > 0) {
      const p = (i - 1) >> 1;
      // Ties broken by vertex number so the search order is reproducible.
      if (keys[p] < key || (keys[p] === key && vals[p] <= val)) break;
      keys[i] = keys[p];
      vals[i] = vals[p];
      i = p;
    }
    keys[i] = key;
    vals[i] = val;
  }

  pop(): number {
    const keys = this.keys;
    const vals = this.vals;
    const top = vals[0];
    const lastKey = keys.pop() as number;
    const lastVal = vals.pop() as number;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (keys[r] < keys[l] || (keys[r] === keys[l] && vals[r] < vals[l])) ? r : l;
        if (keys[c] > lastKey || (keys[c] === lastKey && vals[c] >= lastVal)) break;
        keys[i] = keys[c];
        vals[i] = vals[c];
        i = c;
      }
      keys[i] = lastKey;
      vals[i] = lastVal;
    }
    return top;
  }
}
