"""Rules stage: the rule catalogue (rules/*.toml), its engine, lint and fix."""
