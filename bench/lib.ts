/** Runs `op` n times with `concurrency` workers; returns the elapsed seconds. */
export async function timed(n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}
