"""Plain-Python domain: no boto3, no event shapes."""
