"""P6 continuous training: trigger reasons and the retrain guard (cooldown, lock, budget)."""
