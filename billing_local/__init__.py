"""Developer tooling (not shipped): template loader, local stack."""
