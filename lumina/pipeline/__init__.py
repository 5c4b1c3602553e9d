"""Finding the work (walk, plan) and doing it (runner, single writer)."""
