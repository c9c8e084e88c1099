"""The pipeline's cost model (bench/costs.py): the journal as measured on a synthetic page
through the real code path, and the arithmetic that puts it in a run's dollars apart from
orchestration, whose Lambda time it lengthens."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

from bench.costs import (
    DAYS_PER_MONTH,
    NOT_ORCHESTRATION,
    SCAN_PAGE_BYTES,
    JournalSample,
    MeasuredInputs,
    Scenario,
    cost_table,
    journal_page,
    journal_sample,
    retention_levers,
    scenario_cost,
)
from bench.prices import PRICES
from bench.report import render_costs, render_journal_costs, render_targets, targets
from bench.workload import item_size

if TYPE_CHECKING:
    from bench.costs import ScenarioCost

# The inputs of the run BENCHMARKS.md quotes (costs.inputs in bench/results/latest.json).
INPUTS = MeasuredInputs(
    migrate_cpu_us_per_profile=257.355,
    verify_cpu_us_per_profile=8.365,
    measured_item_bytes=300.95,
    framework_us_by_item_bytes=((300.95, 35.1), (998.8, 71.1), (4070.4, 228.5)),
    report_bytes_per_profile=98.0,
)
ONE_MILLION_1KB = Scenario(profiles=1_000_000, item_bytes=1024, write_capacity=40_000)


def fixed_journal(item_bytes: int, profiles_per_page: int) -> JournalSample:
    """A journal of 400 gzip bytes and 250 us of CPU per profile, whatever the item."""
    return JournalSample(
        item_bytes=item_bytes,
        profiles_per_page=profiles_per_page,
        mean_item_bytes=item_bytes,
        json_lines_bytes_per_profile=3_000,
        gzip_bytes_per_profile=400,
        ratio=7.5,
        cpu_us_per_profile=250,
        gzip_cpu_us_per_profile=30,
    )


def cost(
    scenario: Scenario = ONE_MILLION_1KB,
    days: float | None = 90,
    inputs: MeasuredInputs = INPUTS,
) -> ScenarioCost:
    return scenario_cost(
        scenario, inputs, journal_retention_days=days, sample_journal=fixed_journal
    )


@pytest.mark.parametrize(("item_bytes", "profiles"), [(1024, 8), (4096, 4)])
def test_a_journaled_profile_holds_its_profile_data_twice_and_gzip_keeps_about_one_copy(
    item_bytes: int, profiles: int
) -> None:
    sample = journal_sample(item_bytes, profiles, timings=1)

    # the entry holds profileData before and after, as verbose wire JSON
    assert sample.json_lines_bytes_per_profile > 2 * sample.mean_item_bytes
    # the second copy is a back-reference; the padding's UUIDs and times are not
    assert 2 < sample.ratio < 12
    assert sample.gzip_bytes_per_profile > 0.25 * sample.mean_item_bytes
    assert 0 < sample.gzip_cpu_us_per_profile < sample.cpu_us_per_profile
    assert sample.object_bytes == pytest.approx(sample.gzip_bytes_per_profile * profiles)


@pytest.mark.parametrize("item_bytes", [1024, 4096])
def test_the_sample_page_holds_uuid_keyed_profiles_padded_to_the_item_size(
    item_bytes: int,
) -> None:
    page = journal_page(item_bytes, 50)

    users = [raw["userId"]["S"] for raw in page]
    assert len(set(users)) == len(users)
    assert all(uuid.UUID(user).version == 4 for user in users)
    assert all(item_bytes - 150 < item_size(raw) <= item_bytes for raw in page)
    history = [event for raw in page for event in raw["profileData"]["M"]["history"]["L"]]
    references = {event["M"]["ref"]["S"] for event in history}
    assert len(references) == len(history)
    assert journal_page(item_bytes, 50) == page


def test_the_journal_line_is_one_put_per_page_and_its_storage_for_the_retention() -> None:
    pages = ONE_MILLION_1KB.profiles / (SCAN_PAGE_BYTES // 1024)
    stored_gb = ONE_MILLION_1KB.profiles * 400 / 1e9

    for days in (90, 30, 7):
        assert cost(days=days).dollars["journal"] == pytest.approx(
            pages * PRICES.s3_per_put_or_list_request
            + stored_gb * PRICES.s3_per_gb_month * days / DAYS_PER_MONTH
        )


def test_orchestration_keeps_its_scope_and_the_journal_is_shown_apart() -> None:
    journaled = cost()

    outside = {"dynamodb_writes", "journal"}
    assert outside == NOT_ORCHESTRATION
    assert journaled.orchestration == pytest.approx(
        sum(value for name, value in journaled.dollars.items() if name not in outside)
    )
    assert journaled.all_but_writes_share == pytest.approx(
        journaled.orchestration_share + journaled.journal_share
    )
    assert journaled.total == pytest.approx(
        journaled.write_bill + journaled.orchestration + journaled.dollars["journal"]
    )


def test_the_journals_cpu_and_put_lengthen_the_migrate_turns_billed_to_lambda() -> None:
    journaled, without = cost(), cost(days=None)

    assert without.journal is None
    assert without.dollars["journal"] == 0
    assert without.journal_lambda_s_per_profile == 0
    # 250 us at 1,024 MB's 0.58 vCPU, and a 30 ms + 410 KB at 20 MB/s PUT per 1,024
    assert journaled.journal_lambda_s_per_profile == pytest.approx(
        250e-6 / (1024 / 1769) + (0.030 + 400 * 1024 / 20e6) / 1024
    )
    assert journaled.profiles_per_second_per_lambda < without.profiles_per_second_per_lambda
    assert journaled.dollars["lambda"] > without.dollars["lambda"]
    assert journaled.orchestration_share > without.orchestration_share
    for line in ("dynamodb_writes", "dynamodb_scans", "s3"):
        assert journaled.dollars[line] == pytest.approx(without.dollars[line])


def test_a_runner_that_journaled_locally_adds_only_the_compression() -> None:
    journaling_runner = MeasuredInputs(**{**vars(INPUTS), "journal_in_migrate_cpu": True})

    rendered_already = cost(inputs=journaling_runner)

    put_s = (0.030 + 400 * 1024 / 20e6) / 1024
    assert rendered_already.journal_lambda_s_per_profile == pytest.approx(
        30e-6 / (1024 / 1769) + put_s
    )


def test_shorter_retentions_lower_only_the_journal() -> None:
    levers = retention_levers(INPUTS, days=(90, 7), sample_journal=fixed_journal)

    kept_90, kept_7 = levers
    assert kept_7.journal_share < kept_90.journal_share
    assert kept_90.all_but_writes_share - kept_7.all_but_writes_share == pytest.approx(
        kept_90.journal_share - kept_7.journal_share, rel=0.05
    )


def test_the_stored_inputs_come_back_from_a_results_file() -> None:
    stored = json.loads(json.dumps(vars(INPUTS)))
    del stored["journal_in_migrate_cpu"]  # a file written before the journal has none

    assert MeasuredInputs.from_json(stored) == INPUTS


def test_the_targets_keep_the_orchestration_goal_and_show_the_journal_as_information() -> None:
    costs = cost_table(INPUTS, sample_journal=fixed_journal)

    checks = {check.name: check for check in targets(None, None, None, costs)}

    goal = checks["orchestration / DynamoDB write bill (worst scenario)"]
    worst = max(c.orchestration_share for c in costs) * 100
    assert goal.measured == pytest.approx(worst)
    assert goal.met == (worst <= 10)
    total = checks["orchestration + journal / DynamoDB write bill (worst scenario)"]
    assert total.measured == pytest.approx(max(c.all_but_writes_share for c in costs) * 100)
    assert total.met is None
    assert total.informational
    rendered = render_targets(list(checks.values()))
    assert "| orchestration + journal / DynamoDB write bill (worst scenario) |" in rendered
    assert rendered.count("| information |") == 2


def test_the_tables_show_the_journal_apart() -> None:
    costs = cost_table(INPUTS, sample_journal=fixed_journal)
    levers = retention_levers(INPUTS, sample_journal=fixed_journal)

    table = render_costs(costs)
    journal = render_journal_costs(costs, levers)

    header = table.splitlines()[0]
    assert "| journal $ |" in header
    assert "| orchestration / writes | journal / writes | orchestration + journal / writes |" in (
        header
    )
    assert "| 1 KB items | 1,024 |" in journal
    assert "| 7 days |" in journal
