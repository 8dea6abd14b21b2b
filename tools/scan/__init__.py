"""checkov over the plans and synthesized JSON (custom policies can live here too)."""
