"""What every component shares: the error hierarchy, settings, AWS clients, S3 objects."""
