"""AWS list prices, us-east-1, as published on the AWS pricing pages (read
2026-11; DynamoDB on-demand after the November 2024 reduction). Only the
per-request and per-unit prices an order drives; free tiers are ignored."""

from __future__ import annotations

from decimal import Decimal

# API Gateway HTTP API: $1.00 per million requests (first 300 million).
HTTP_API_PER_REQUEST = Decimal("1.00") / 1_000_000
# Lambda: $0.20 per million requests; arm64 duration $0.0000133334 per GB-second.
LAMBDA_PER_REQUEST = Decimal("0.20") / 1_000_000
LAMBDA_ARM_PER_GB_SECOND = Decimal("0.0000133334")
# DynamoDB on-demand: $0.625 per million write request units, $0.125 per million read request units.
DYNAMODB_PER_WRU = Decimal("0.625") / 1_000_000
DYNAMODB_PER_RRU = Decimal("0.125") / 1_000_000
# DynamoDB Streams read by Lambda triggers: free.
# EventBridge custom events: $1.00 per million (64 KB chunks).
EVENTBRIDGE_PER_EVENT = Decimal("1.00") / 1_000_000
# SQS standard: $0.40 per million requests (none on the capture path).
SQS_PER_REQUEST = Decimal("0.40") / 1_000_000
# CloudWatch Logs ingestion: $0.50 per GB.
LOGS_PER_BYTE = Decimal("0.50") / (1024**3)
# X-Ray: $5.00 per million traces recorded; the default sampling keeps about 5 % at volume.
XRAY_PER_TRACE = Decimal("5.00") / 1_000_000
XRAY_SAMPLED = Decimal("0.05")
