"""Lambda entry points: one module per function, each a thin shell over adapters and core."""
