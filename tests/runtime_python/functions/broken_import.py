"""A function whose module-level code fails."""
raise RuntimeError('module level boom')
