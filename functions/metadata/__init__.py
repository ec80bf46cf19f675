"""C7 metadata store: runs, steps, params, metrics and the lineage graph (DynamoDB)."""
