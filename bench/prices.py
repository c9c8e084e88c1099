"""Every AWS price the cost model uses, in one place.

us-east-1 (N. Virginia) list prices, pay as you go, no free tier, no Savings Plans,
as published on AWS's pricing pages on 2025-01-15 (DynamoDB on-demand at the rates in
force since AWS halved them on 2024-11-01). They were written down from knowledge of those
pages, not fetched: this machine has no internet. Check them before quoting a dollar
figure, and change them here only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PRICES_AS_PUBLISHED_ON = "2025-01-15"
PRICES_REGION = "us-east-1"


@dataclass(frozen=True)
class Prices:
    """Dollars per unit; the unit is in each field's name and comment."""

    # DynamoDB, Standard table class, on-demand capacity mode.
    dynamodb_per_write_request_unit: float = 0.625 / 1e6  # $0.625 per million WRU
    dynamodb_per_read_request_unit: float = 0.125 / 1e6  # $0.125 per million RRU
    dynamodb_backup_per_gb_month: float = 0.10  # on-demand backup storage
    dynamodb_pitr_per_gb_month: float = 0.20  # continuous backups (point-in-time recovery)
    # DynamoDB, provisioned capacity mode (for comparison only).
    dynamodb_per_wcu_hour: float = 0.00065  # $ per WCU-hour
    dynamodb_per_rcu_hour: float = 0.00013  # $ per RCU-hour
    # Lambda, Arm (Graviton), first pricing tier.
    lambda_per_gb_second_arm64: float = 0.0000133334  # $ per GB-second
    lambda_per_request: float = 0.20 / 1e6  # $0.20 per million requests
    # Step Functions, Standard workflows (a Distributed Map's Standard child executions too).
    step_functions_per_state_transition: float = 0.025 / 1_000  # $0.025 per 1,000
    # S3 Standard.
    s3_per_put_or_list_request: float = 0.005 / 1_000  # PUT, COPY, POST, LIST: $0.005 per 1,000
    s3_per_get_request: float = 0.0004 / 1_000  # GET: $0.0004 per 1,000
    s3_per_gb_month: float = 0.023  # first 50 TB
    # CloudWatch.
    cloudwatch_logs_per_gb_ingested: float = 0.50  # Standard log class
    cloudwatch_per_custom_metric_month: float = 0.30  # first 10,000 metrics, prorated hourly
    xray_per_trace_recorded: float = 5.00 / 1e6  # $5.00 per million traces recorded

    def to_json(self) -> dict[str, float | str]:
        return {"as_published_on": PRICES_AS_PUBLISHED_ON, "region": PRICES_REGION, **asdict(self)}


PRICES = Prices()
