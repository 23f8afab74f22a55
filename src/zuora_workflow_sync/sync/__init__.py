"""Use-cases that orchestrate the rest: dispatch runs, execute a run, report."""
