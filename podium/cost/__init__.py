"""Cost: a dated price catalog, a ledger of every agent call, budgets, and reports (a plugin on events).

Core never imports this package; `podium.cost.plugin:CostPlugin` is a built-in plugin like any
other (one instance per plugin manager, holding that manager's Meter), and a run works the same
without it. The parts: `catalog/` (prices), `pricefile` (the price file format), `ledger` (rows
folded from events), `budget` (the Meter: limits before calls, tallies after), `report` (roll-ups,
tables, CSV, JSON), `summary` (a run's cost for `podium show`), `commands` (`podium cost`,
`podium prices`), `plugin` (the hooks).
"""
