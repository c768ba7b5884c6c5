"""auditor: build, read, run and gate Rust crates compiled to WebAssembly."""

__version__ = "0.1.0"
