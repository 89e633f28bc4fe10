"""Tools that measure and demonstrate the pipeline: evaluation, benchmarks, synthesized episodes.

Nothing in the runtime (the stages, `run`, `workspace`) imports this package; the command line
loads its commands by name when they are invoked, and `demo` uses `synth` and `serve`.
"""
