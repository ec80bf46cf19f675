"""Code that runs inside Lambda and Batch: pure core, boto3 adapters, thin handlers."""
