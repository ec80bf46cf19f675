"""Safe rollout of a promoted model: canary signals, CodeDeploy AppSpec, smoke test."""
