"""Pure domain logic: pandas, numpy, scikit-learn. No boto3, no environment reads."""
