"""CDK infrastructure: typed stage config, ASL renderer, constructs and stacks."""
