"""Cost: a dated price catalog, a ledger of every agent call, budgets, and reports (a plugin on events).

Core never imports this package; `podium.cost.plugin` is a built-in plugin like any other, and a
run works the same without it.
"""
