"""The typed JSON contracts between stages: one module per record kind.

Each stage returns a Python object whose `to_json()` is one of these records
(`auditor.inspect/1`, `auditor.run/1`, `auditor.scan/1`, `auditor.check/1`, and the
findings and checks every report carries); the rules, the gate, the caches and saved
reports all read the records, never the objects. TypedDicts, so a record is a plain dict
at run time (what json.load gives back) and a checked shape for mypy. This package
imports nothing else of auditor's, so every stage may use it.
"""
