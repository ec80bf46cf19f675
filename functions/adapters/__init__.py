"""boto3 I/O. Clients are passed in; errors become ``MlopsError`` subclasses."""
