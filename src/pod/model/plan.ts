// Scaling as a plan: the difference between the replica numbers that exist and the count asked
// for. Lowest free numbers are added first and highest removed first, like Compose, so a pod
// scaled down and up again reuses web-1..web-N.

export interface ScalePlan {
  add: number[];
  remove: number[];
}

export function planScale(existing: readonly number[], desired: number): ScalePlan {
  const have = [...new Set(existing)].sort((a, b) => a - b);
  if (have.length > desired) return { add: [], remove: have.slice(desired).reverse() };
  const add: number[] = [];
  for (let n = 1; add.length < desired - have.length; n++) if (!have.includes(n)) add.push(n);
  return { add, remove: [] };
}
