"""Runtime stage: run a module in wasmtime to see its OOM behaviour and memory growth.

Entry point: `auditor.runtime.api` (RuntimeOptions, run_module, RunResult). Nothing
here is imported at start-up, so `auditor lint` never loads wasmtime.
"""
