"""What a serving engine does under load, over the pure `serving` terms.

- :mod:`.memory`: the KV cache an engine leaves after its weights, workspace and reserves, and the
  concurrency that fits, as the engines compute them at start-up.
- :mod:`.steps`: the time of one engine step over a mixed batch of decodes and prefill chunks.
- :mod:`.simulate`: a step-level simulator of continuous batching with the semantics of
  ``vllm bench serve`` (closed loop, Poisson or gamma arrivals, bursts).
- :mod:`.queueing`: the closed-form load model that plans and workbooks use.
"""
