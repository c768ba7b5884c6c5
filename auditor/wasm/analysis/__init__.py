"""Deep size analyses over a module's item graph (retained sizes, why-paths, garbage,
monomorphizations, per-crate, per-source and data attribution).

Each analysis is a plain function over a small graph interface (`core.Graph`): node
sizes, successor lists in compressed (CSR) arrays and the root nodes. Nothing here
parses the module or formats output; the wasm stage builds the graph once and the
report layer renders results, so an analysis costs only its own algorithm, in
O(nodes + edges) memory.
"""
