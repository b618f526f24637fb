"""Storage: the port's SQL implementations, schema and migrations. Imports domain only."""
