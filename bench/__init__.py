"""The benchmark harness: throughput on DynamoDB Local, framework CPU, memory, AWS cost model.

Run it with ``python -m bench`` (see BENCHMARKS.md); it is not part of the test suite.
"""
