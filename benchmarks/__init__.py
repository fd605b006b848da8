"""The benchmarks behind `make bench`; the entry point is benchmarks/run.py (docs/performance.md).

common.py         the repository, the functions measured, the hello baseline, the profiles
processes.py      starting and killing processes, their environment, peak RSS, org API keys
http_requests.py  the requests each function is measured with, sent over http.client
cold_start.py     1 + 4: process start to first answer, peak RSS
load.py           keep-alive load at a concurrency: latencies, errors, throughput
warm.py           2 + 3: warm latency and setup throughput on `shared.cli serve`
import_time.py    5: import time and the google-cloud client library check
report.py         the tables and the targets
"""
