/**
 * Budgets for notebooks that CI executes: a notebook says what it runs at full size (the outputs
 * committed with it) and what CI runs (small enough for a shared machine), in one place each:
 *
 *   const STEPS = budget(200, 20);
 *
 * CHAMLAB_NOTEBOOK_BUDGET=small selects the second value; anything else, or unset, the first.
 */
export function budget<T>(full: T, small: T): T {
  return smallBudget() ? small : full;
}

export function smallBudget(): boolean {
  return process.env.CHAMLAB_NOTEBOOK_BUDGET === 'small';
}
