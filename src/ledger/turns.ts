/**
 * Claims take turns between setups: the first due row of each setup, then the
 * second of each, and so on, up to `limit`. `lists` holds each setup's due
 * ids, oldest first, already rotated so a different setup leads each claim.
 */
export function takeTurns(lists: readonly (readonly number[])[], limit: number): number[] {
  const ids: number[] = [];
  for (let round = 0; ids.length < limit && lists.some((l) => l.length > round); round++) {
    for (const list of lists) {
      const id = list[round];
      if (id !== undefined && ids.length < limit) ids.push(id);
    }
  }
  return ids;
}
