"""Mode -> model assignment with co-residency: candidates (priced by the cost model), an exact MILP,
explanations, plan checks and editor exports. A rejection is a record with a reason."""
