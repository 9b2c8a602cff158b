"""The catalog domain: products, prices and stock from Haier into DuckDB."""
