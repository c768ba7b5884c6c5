"""Runtime stage: run a module in wasmtime to see its OOM behaviour and memory growth.

Entry points: `auditor.runtime.api` (run_module, RunResult; wasmtime) and
`auditor.runtime.options` (RuntimeOptions, Scenario; no wasmtime, so planning and
`auditor config` can use them). Nothing here is imported at start-up, so `auditor lint`
never loads wasmtime.
"""
