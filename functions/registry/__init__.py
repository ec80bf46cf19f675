"""C6 model registry: versions, approval, aliases (DynamoDB), artifacts (S3, sha256), the model loader."""
