"""Fit the cost model's speed parameters to measurements; versioned calibrations."""
