"""Virtual populations: correlated parameters, predisposition prevalences, recruitment."""
