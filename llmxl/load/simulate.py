"""A step-level simulator of continuous batching, with the semantics of ``vllm bench serve``.

Requests are sent as ``vllm bench serve`` sends them: a closed loop at ``max_concurrency`` (each
finished request frees a slot for the next), Poisson or gamma arrivals at ``request_rate``, or a burst
when neither bounds them; prompt and completion lengths drawn uniformly within ``range_ratio`` of the
given means. A request reaches the engine ``front_end_s`` after it is sent (the HTTP server and the
tokeniser). Each step the engine's scheduler takes every running decode, then fills what is left of the
token budget with prompt chunks, first come first served, while KV blocks and the cap on sequences allow
(vLLM and TensorRT-LLM); SGLang runs a prefill step whenever prompts wait and decodes otherwise. A step
takes the time :func:`llmxl.load.steps.step_time` gives for its mixed batch. When the KV cache cannot
hold the next token of every running sequence, the newest one is preempted and recomputed later, as vLLM
does.

Runs of decode steps between two events are computed at once over numpy arrays. The figures are the
benchmark's: TTFT, TPOT ((E2E − TTFT) / (n − 1)), ITL and E2E (mean, median, p90, p99), and throughput.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .benchmark import SimulationResult, _percentiles, arrivals, lengths
from .steps import step_time

__all__ = ["MAX_SIMULATED_REQUESTS", "SimulationResult", "arrivals", "lengths", "run", "simulate"]

#: Most requests one simulation takes (a few seconds of work at most).
MAX_SIMULATED_REQUESTS = 200_000


class _Engine:
    """The engine's state: waiting prompts, running sequences, KV blocks, and the clock.

    Every running sequence advances one token per decode step, so a sequence is kept as its context
    less the global decode-step count G (``base``) and the value of G at which it finishes (``end``):
    a decode step then costs O(1), whatever the batch. KV blocks are counted the same way: a step writes
    a new block for each sequence whose context is a multiple of the block size, i.e. whose base is
    ≡ −G (mod block size).
    """

    def __init__(self, rates: Any, mem: Any, T: Any, engine: Any, s: np.ndarray, n: np.ndarray) -> None:
        self.r, self.T = rates, T
        self.bs = mem.block_size
        self.cap = mem.max_num_seqs
        self.budget = mem.max_num_batched_tokens
        self.mixed = engine.scheduling == "mixed"
        self.windowed = T.n_window > 0
        self.W = T.window
        self.lf, self.lw = T.n_full, T.n_window
        # capacity: blocks, or (with attention windows) layer-tokens: a token costs LF, LW more in the window
        self.capacity = mem.kv_cache_bytes / T.c_kv if self.windowed else float(mem.blocks)
        self.s, self.n = s, n
        N = s.size
        self.first = np.full(N, np.nan)
        self.finish = np.full(N, np.nan)
        self.generated = np.zeros(N, dtype=np.int64)
        self.waiting: deque[list[int]] = deque()  # [request, prompt tokens to compute, of which done]
        self.partial: list[int] | None = None  # the prompt being chunked
        self.G = 0
        self.base: dict[int, int] = {}  # request -> context - G
        self.end_of: dict[int, int] = {}  # request -> G at which it finishes
        self.order: list[int] = []  # running requests in admission order (some may have ended)
        self.ends: list[tuple[int, int]] = []  # heap of (G at which it finishes, request)
        self.sum_base = 0
        self.residues = [0] * self.bs  # running sequences by base mod block size
        self.units = 0.0  # KV in use by running sequences (blocks or layer-tokens)
        self.reach: list[tuple[int, int]] = []  # windows: heap of (G at which it fills its window, request)
        self.below = 0  # windows: running sequences still short of the window
        self.sum_below = 0  # windows: Σ base over them
        self.t = 0.0
        self.steps = 0
        self.preemptions = 0
        self.peak = 0
        self.busy = 0.0
        self.kv_peak = 0.0
        self.itl_runs: list[tuple[Any, float]] = []  # (gap or array of gaps, sequences that took each)
        self.ended_now: list[int] = []
        self.stalled = False
        # prefill steps the running sequences have waited through since their last token: (seconds, sequences
        # running then); a sequence that joined after one of them waited only through the later ones
        self.stall: list[tuple[float, int]] = []
        # speculative decoding: G counts tokens, S decode steps; after S steps every running sequence has
        # generated floor(τ S) tokens since G = 0, so a step yields floor(τ (S + 1)) − floor(τ S) of them
        self.tau = None if rates.spec is None else rates.spec.tau
        self.S = 0

    # --- KV use ------------------------------------------------------------------------------
    def _prompt_units(self, tokens: int) -> float:
        if self.windowed:
            return float(self.lf * tokens + self.lw * min(tokens, self.W))
        return float(-(-tokens // self.bs))

    def _seq_units(self, ctx: int) -> float:
        return self._prompt_units(ctx)

    def _tokens(self, steps: Any) -> Any:
        """Tokens per sequence after ``steps`` decode steps from the start: floor(τ steps)."""
        return np.floor(self.tau * np.asarray(steps, dtype=np.float64) + 1e-9).astype(np.int64)

    def _step_tokens(self) -> int:
        """Tokens the next decode step yields per sequence (1 without speculative decoding)."""
        return 1 if self.tau is None else int(self._tokens(self.S + 1) - self._tokens(self.S))

    def _next_units(self) -> float:
        """KV the running sequences add in the next decode step."""
        D = len(self.base)
        if self.tau is not None:  # d tokens: the block boundaries among contexts base + G ... base + G + d − 1
            d = self._step_tokens()
            if self.windowed:
                return float((self.lf * D + self.lw * self.below) * d)
            return float(sum(self.residues[(-(self.G + j)) % self.bs] for j in range(d)))
        if self.windowed:
            return float(self.lf * D + self.lw * self.below)
        return float(self.residues[(-self.G) % self.bs])

    def _partial_units(self) -> float:
        return self._prompt_units(self.partial[2]) if self.partial is not None else 0.0

    def _window_ctx(self) -> float:
        """Σ min(context, W) over the running sequences."""
        D = len(self.base)
        return float(self.sum_below + self.below * self.G + (D - self.below) * self.W)

    # --- running set --------------------------------------------------------------------------
    def _admit(self, q: int, ctx: int) -> None:
        remaining = int(self.n[q] - self.generated[q])
        if remaining <= 0:
            self.finish[q] = self.t
            self.ended_now.append(q)
            return
        b = ctx - self.G
        self.base[q] = b
        self.order.append(q)
        heapq.heappush(self.ends, (self.G + remaining, q))
        self.end_of[q] = self.G + remaining
        self.sum_base += b
        self.residues[b % self.bs] += 1
        self.units += self._seq_units(ctx)
        if self.windowed and ctx < self.W:
            self.below += 1
            self.sum_below += b
            heapq.heappush(self.reach, (int(self.W) - b, q))

    def _drop(self, q: int) -> None:
        b = self.base.pop(q)
        self.end_of.pop(q, None)
        ctx = b + self.G
        self.sum_base -= b
        self.residues[b % self.bs] -= 1
        self.units -= self._seq_units(ctx)
        if self.windowed and ctx < self.W:
            self.below -= 1
            self.sum_below -= b

    def _settle(self) -> None:
        """Finish the sequences whose last token came out, and count out the ones that filled their window.

        Heap entries of a sequence preempted since (and perhaps admitted again) no longer match it: skipped.
        """
        while self.ends and self.ends[0][0] <= self.G:
            end, q = heapq.heappop(self.ends)
            if self.end_of.get(q) == end and q in self.base:
                self._drop(q)
                self.finish[q] = self.t
                self.ended_now.append(q)
        while self.reach and self.reach[0][0] <= self.G:
            key, q = heapq.heappop(self.reach)
            b = self.base.get(q)
            if b is not None and int(self.W) - b == key:
                self.below -= 1
                self.sum_below -= b

    def _newest(self) -> int | None:
        while self.order:
            q = self.order[-1]
            if q in self.base:
                return q
            self.order.pop()
        return None

    # --- the scheduler ------------------------------------------------------------------------
    def _make_room(self) -> None:
        """Evict the newest running sequences until every one left can write its next token (vLLM's
        recompute preemption: an evicted request waits again, its prompt and what it generated recomputed)."""
        while self.base and self.units + self._partial_units() + self._next_units() > self.capacity:
            q = self._newest()
            self.order.pop()
            self._drop(q)
            self.waiting.appendleft([q, int(self.s[q] + self.generated[q]), 0])
            self.preemptions += 1

    def _chunks(self, room: int) -> list[tuple[list[int], int]]:
        """Prompt chunks from ``room`` tokens of budget: the partial prompt first, then waiting ones."""
        out: list[tuple[list[int], int]] = []
        running = len(self.base) + (1 if self.partial is not None else 0)
        used = self.units + self._partial_units() + (self._next_units() if self.mixed else 0.0)
        item = self.partial
        while room > 0:
            if item is None:
                if not self.waiting or running >= self.cap:
                    break
                item = self.waiting[0]
                fresh = True
            else:
                fresh = False
            take = min(item[1] - item[2], room)
            # a fresh prompt brings its cached prefix's blocks (item[2] > 0 with a prefix cache hit) with it
            grow = self._prompt_units(item[2] + take) - (0.0 if fresh else self._prompt_units(item[2]))
            if used + grow > self.capacity:
                break
            if fresh:
                self.waiting.popleft()
                running += 1
            out.append((item, take))
            used += grow
            room -= take
            if item[2] + take < item[1]:
                break  # one prompt at a time is chunked (vLLM's max_num_partial_prefills = 1)
            item = None
        return out

    def _waited(self, D: int) -> list[tuple[float, int]]:
        """(time waited in prefill steps, sequences) for the D sequences of the decode step after a stall: each
        waited through the prefill steps since it joined (all of them for those running before the first)."""
        parts, self.stall = self.stall, []
        out, seen, left = [], 0, sum(dt for dt, _ in parts)
        for dt, n in parts:
            k = min(n, D) - seen
            if k > 0:
                out.append((left, k))
                seen += k
            left -= dt
        if seen < D:
            out.append((0.0, D - seen))
        return out

    def _record_run(self, gaps: Any, D: int, weight: Any, tokens: float = 1.0) -> None:
        """A run of decode steps' gaps, each taken by ``weight`` sequences (a number or one per step); the first
        step's gap is longer by what each sequence waited in the prefill steps before it (``tokens`` per step)."""
        if not self.stall:
            self.itl_runs.append((gaps, weight))
            return
        first = float(gaps[0])
        if gaps.size > 1:
            self.itl_runs.append((gaps[1:], weight if np.ndim(weight) == 0 else weight[1:]))
        w0 = float(weight if np.ndim(weight) == 0 else weight[0]) / D
        for extra, k in self._waited(D):
            self.itl_runs.append((first + extra / tokens, k * w0))

    def step(self) -> None:
        """One explicit step: the running decodes (mixed policy, or when no prompt waits) and prompt chunks."""
        present = self.on_engine()  # before the scheduler takes prompts off the queue
        decode = self.mixed or not (self.waiting or self.partial is not None)
        chunks: list[tuple[list[int], int]] = []
        if not decode:  # prefill first, unless no waiting prompt fits the KV cache: then the decodes go on
            chunks = self._chunks(self.budget)
            decode = not chunks
        if decode and self.base:
            self._make_room()
        D = len(self.base) if decode else 0
        if self.mixed:
            room = self.budget - D
            chunks = self._chunks(room) if room > 0 else []
        if D == 0 and not chunks:
            self.stalled = True
            return
        self.stalled = False
        pre = attend = cached = 0.0
        aw = cw = 0.0
        done = []
        W = self.W
        for it, take in chunks:
            c = it[2]
            pre += take
            attend += take * (c + (take + 1) / 2)
            cached += c
            if self.windowed:
                aw += take * min(c + (take + 1) / 2, W)
                cw += min(c, W)
            if c + take >= it[1]:
                done.append(it)
        dec_ctx = float(self.sum_base + D * self.G) if D else 0.0
        if self.windowed:
            dw = self._window_ctx() if D else 0.0
            dt = step_time(self.r, D, dec_ctx, pre, attend, cached, len(done), dw, aw, cw)
        else:
            dt = step_time(self.r, D, dec_ctx, pre, attend, cached, len(done))
        self.busy += dt * present
        self.t += dt
        self.steps += 1
        if D and self.tau is not None:  # d tokens at once: each one's gap is the step's over d
            d = self._step_tokens()
            self.units += self._next_units()
            self.G += d
            self.S += 1
            for extra, k in self._waited(D):
                self.itl_runs.append(((dt + extra) / d, float(k * d)))
        elif D:
            self.units += self._next_units()
            self.G += 1
            for extra, k in self._waited(D):
                self.itl_runs.append((dt + extra, float(k)))
        elif self.base:
            self.stall.append((dt, len(self.base)))  # the running sequences waited: their next gap is longer
        if self.partial is not None and all(it is not self.partial for it, _ in chunks):
            chunks.append((self.partial, 0))  # it waits for room, holding what it has prefilled
        self.partial = None
        for it, take in chunks:
            it[2] += take
            if it[2] < it[1]:
                self.partial = it
        self._settle()
        for it in done:
            q = it[0]
            self.generated[q] += 1
            if math.isnan(self.first[q]):
                self.first[q] = self.t
            self._admit(q, it[1])
        self._track()

    def on_engine(self) -> int:
        """Requests on the engine: waiting, being prefilled or decoding."""
        return len(self.base) + len(self.waiting) + (1 if self.partial is not None else 0)

    def _track(self) -> None:
        running = len(self.base) + (1 if self.partial is not None else 0)
        if running > self.peak:
            self.peak = running
        if self.capacity > 0:
            used = (self.units + self._partial_units()) / self.capacity
            if used > self.kv_peak:
                self.kv_peak = used

    def decode_run(self, until: float) -> None:
        """Decode steps until the first completion, the first step to end at or after ``until`` (an
        arrival), or the KV cache filling, whichever comes first: computed at once over numpy arrays."""
        D = len(self.base)
        while self.end_of.get(self.ends[0][1]) != self.ends[0][0]:  # a preempted sequence's old entry
            heapq.heappop(self.ends)
        if self.tau is not None:
            self._speculative_run(until)
            return
        k = self.ends[0][0] - self.G
        if k <= 2:
            self.step()
            return
        i = np.arange(k, dtype=np.int64)
        g = self.G + i
        dec_ctx = (self.sum_base + D * g).astype(np.float64)
        if self.windowed:
            bases = np.sort(np.fromiter(self.base.values(), dtype=np.int64, count=D))
            below = np.searchsorted(bases, int(self.W) - g - 1, side="right").astype(np.float64)
            prefix = np.concatenate(([0], np.cumsum(bases)))
            # sequences still short of the window after i steps are those with base < W - g
            inside = np.searchsorted(bases, self.W - g, side="left")
            dw = prefix[inside] + inside * g + (D - inside) * self.W
            grow = self.lf * D + self.lw * below
            dts = step_time(self.r, D, dec_ctx, dec_ctx_w=dw.astype(np.float64), mx=np.maximum)
        else:
            grow = np.asarray(self.residues, dtype=np.float64)[(-g) % self.bs]
            dts = step_time(self.r, D, dec_ctx, mx=np.maximum)
        used = self.units + np.cumsum(grow)
        over = np.flatnonzero(used > self.capacity)
        if over.size:
            if over[0] == 0:
                self.step()  # the scheduler preempts: one explicit step
                return
            k = int(over[0])
        dts = np.broadcast_to(np.asarray(dts, dtype=np.float64), (i.size,))[:k]
        ends = self.t + np.cumsum(dts)
        if until < math.inf:
            k = min(k, int(np.searchsorted(ends, until, side="left")) + 1)
            dts = dts[:k]
        self.busy += float(ends[k - 1] - self.t) * self.on_engine()
        self.t = float(ends[k - 1])
        self.steps += k
        self.units = float(used[k - 1])
        self.G += k
        self._record_run(np.asarray(dts, dtype=np.float64), D, float(D))
        self._settle()
        self._track()

    def _speculative_run(self, until: float) -> None:
        """decode_run with speculative decoding: step i starts at token clock g_i = G + floor(τ (S + i)) −
        floor(τ S) and yields d_i tokens per sequence."""
        D = len(self.base)
        left = self.ends[0][0] - self.G  # tokens until the first completion
        k = math.ceil(left / self.tau) + 1
        start = self._tokens(self.S + np.arange(k + 1)) - self._tokens(self.S)
        k = int(np.argmax(start >= left))  # steps until it completes
        if k <= 2:
            self.step()
            return
        g = self.G + start[:k]
        d = (start[1 : k + 1] - start[:k]).astype(np.float64)
        dec_ctx = (self.sum_base + D * g).astype(np.float64)
        if self.windowed:
            bases = np.sort(np.fromiter(self.base.values(), dtype=np.int64, count=D))
            below = np.searchsorted(bases, int(self.W) - g - 1, side="right").astype(np.float64)
            prefix = np.concatenate(([0], np.cumsum(bases)))
            inside = np.searchsorted(bases, self.W - g, side="left")
            dw = prefix[inside] + inside * g + (D - inside) * self.W
            grow = (self.lf * D + self.lw * below) * d
            dts = step_time(self.r, D, dec_ctx, dec_ctx_w=dw.astype(np.float64), mx=np.maximum)
        else:  # new blocks over the tokens of each step: a prefix sum of the residues along the token clock
            res = np.asarray(self.residues, dtype=np.float64)[(-(self.G + np.arange(int(start[k])))) % self.bs]
            cum = np.concatenate(([0.0], np.cumsum(res)))
            grow = cum[start[1 : k + 1]] - cum[start[:k]]
            dts = step_time(self.r, D, dec_ctx, mx=np.maximum)
        used = self.units + np.cumsum(grow)
        over = np.flatnonzero(used > self.capacity)
        if over.size:
            if over[0] == 0:
                self.step()
                return
            k = int(over[0])
        dts = np.broadcast_to(np.asarray(dts, dtype=np.float64), (g.size,))[:k]
        ends = self.t + np.cumsum(dts)
        if until < math.inf:
            k = min(k, int(np.searchsorted(ends, until, side="left")) + 1)
            dts = dts[:k]
        self.busy += float(ends[k - 1] - self.t) * self.on_engine()
        self.t = float(ends[k - 1])
        self.steps += k
        self.units = float(used[k - 1])
        self.G += int(start[k])
        self.S += k
        self._record_run(np.asarray(dts, dtype=np.float64) / d[:k], D, D * d[:k], d[0])
        self._settle()
        self._track()


def run(
    rates: Any,
    mem: Any,
    T: Any,
    engine: Any,
    prompts: np.ndarray,
    outputs: np.ndarray,
    send: np.ndarray,
    max_concurrency: int | None,
    front_end_s: float,
    cached: np.ndarray | None = None,
) -> tuple[_Engine, np.ndarray]:
    """Run the requests through the engine; returns the final state and each request's send time.

    ``cached`` holds each prompt's tokens read from the prefix cache (none when None): its prefill starts
    there. A preempted request recomputes its whole prompt (its blocks were evicted for room)."""
    N = prompts.size
    eng = _Engine(rates, mem, T, engine, prompts, outputs)
    sent = np.full(N, np.nan)
    pending: deque[tuple[float, int]] = deque()  # (reaches the engine at, request)
    nxt = 0  # next request not yet sent
    in_flight = 0
    limit = N if max_concurrency is None else max_concurrency
    done = 0

    def send_ready(now: float) -> None:
        nonlocal nxt, in_flight
        while nxt < N and in_flight < limit and send[nxt] <= now:
            sent[nxt] = max(send[nxt], now) if max_concurrency is not None else send[nxt]
            pending.append((sent[nxt] + front_end_s, nxt))
            nxt += 1
            in_flight += 1

    send_ready(0.0)
    while done < N:
        while pending and pending[0][0] <= eng.t:
            at, q = pending.popleft()
            eng.busy += eng.t - at  # it waited on the engine since it arrived, mid-step
            eng.waiting.append([q, int(prompts[q]), 0 if cached is None else int(cached[q])])
        upcoming = pending[0][0] if pending else math.inf
        if nxt < N and in_flight < limit:
            upcoming = min(upcoming, max(send[nxt], eng.t) + front_end_s)
        if eng.waiting or eng.partial is not None:
            eng.step()
            if eng.stalled:
                if eng.base:
                    eng.decode_run(upcoming)
                elif upcoming < math.inf:
                    eng.t = max(eng.t, upcoming)
                else:
                    raise InvalidInputError(
                        "a request does not fit in the engine's KV cache; use a larger tp, a GPU with more memory "
                        "or shorter requests",
                        field="prompt_tokens",
                    )
        elif eng.base:
            eng.decode_run(upcoming)
        else:
            eng.t = max(eng.t, upcoming)
        if eng.ended_now:
            done += len(eng.ended_now)
            in_flight -= len(eng.ended_now)
            eng.ended_now.clear()
        send_ready(eng.t)
    return eng, sent


def simulate(
    model: Any,
    gpu: Any,
    *,
    prompt_tokens: Any,
    completion_tokens: Any,
    max_concurrency: Any = None,
    request_rate: Any = math.inf,
    num_requests: Any = 1000,
    range_ratio: Any = 0.0,
    burstiness: Any = 1.0,
    engine: Any = None,
    tp: int = 1,
    pp: int = 1,
    dtype: Any = None,
    seed: Any = 0,
    flops_efficiency: Any = None,
    hbm_efficiency: Any = None,
    dp: int = 1,
    ep: int | None = None,
    redundant_experts: int = 0,
    speculative: Any = None,
    num_speculative_tokens: Any = None,
    acceptance_rate: Any = None,
    prefix_cache_hit: Any = 0.0,
) -> SimulationResult:
    """Simulate a benchmark run of one replica: what ``vllm bench serve`` would print for it.

    Parameters
    ----------
    model, gpu, tp, pp, dtype, flops_efficiency, hbm_efficiency : The configuration, as for estimate()
        (dtype None: the precision the model is published in).
    prompt_tokens, completion_tokens : Mean lengths of the requests [tokens].
    max_concurrency : Requests in flight at most (a closed loop when request_rate is infinite); None
        for no limit (``--max-concurrency``).
    request_rate : Requests sent per second, Poisson (or gamma) spaced; inf sends them all at once
        (``--request-rate``).
    num_requests : Requests in the run (``--num-prompts``), at most MAX_SIMULATED_REQUESTS.
    range_ratio : Lengths uniform within ±range_ratio of their means, in [0, 1) (``--random-range-ratio``).
    burstiness : Shape of the gamma gaps between requests; 1 is Poisson (``--burstiness``).
    engine : "vllm", "sglang", "tensorrt-llm", an EngineSpec (llmxl.engine(...)) or "name:flag=value,...";
        None the default engine.
    seed : Seed of the lengths and gaps: the same seed gives the same result.
    dp, ep, redundant_experts : A mixture-of-experts layout over tp × dp × pp GPUs, as for estimate(); the
        dp ranks' schedulers are taken as one, with dp times one rank's caps and a balanced load.
    speculative, num_speculative_tokens, acceptance_rate : A speculative decoder, as for estimate() (None:
        none). Every decode step then yields the expected tokens per sequence, floor(τ (S + 1)) − floor(τ S)
        at its S-th step, and ITL is each token's share of its step.
    prefix_cache_hit : Fraction of each prompt's tokens found in the prefix cache, in [0, 1) (default 0): a
        prompt of s tokens starts its prefill with s − max(round((1 − h) s), 1) of them in place, its KV blocks
        its own (docs/methodology.md, "Prefix caching").

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> r = simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=1000, completion_tokens=200,
    ...              max_concurrency=16, num_requests=64)
    >>> r.peak_concurrency, r.preemptions
    (16, 0)
    """
    from ..checks import check_count
    from ..prefix import check_prefix_cache_hit
    from ..resolve import configuration, decode_scale, prefill_scale, resolve_engine, speculative_terms
    from .replica import replica

    s_mean = _positive(prompt_tokens, "prompt_tokens", 1, 1e7)
    n_mean = _positive(completion_tokens, "completion_tokens", 1, 1e7)
    N = check_count(num_requests, "num_requests")
    if N > MAX_SIMULATED_REQUESTS:
        raise InvalidInputError(
            f"num_requests {N:,} is more than the {MAX_SIMULATED_REQUESTS:,} one simulation takes; "
            "give fewer (the percentiles settle within a few thousand)",
            field="num_requests",
        )
    C = None if max_concurrency is None else check_count(max_concurrency, "max_concurrency")
    rate = _rate(request_rate)
    rr = _fraction_below_one(range_ratio, "range_ratio")
    burst = _positive(burstiness, "burstiness", 1e-3, 1e3)
    seed_ = _seed(seed)
    hit = check_prefix_cache_hit(prefix_cache_hit)
    eng = resolve_engine(engine)
    m, g, d, T, config_warnings, fe, he = configuration(model, gpu, dtype, tp, pp, "serving", dp, ep, redundant_experts)
    fe = fe if flops_efficiency is None else _positive(flops_efficiency, "flops_efficiency", 1e-4, 1)
    he = he if hbm_efficiency is None else _positive(hbm_efficiency, "hbm_efficiency", 1e-4, 1)
    warnings = list(config_warnings)
    sp = None
    if speculative is not None or num_speculative_tokens is not None or acceptance_rate is not None:
        T, sp = speculative_terms(m, T, speculative, num_speculative_tokens, acceptance_rate, warnings)
    kp, kd = prefill_scale(g, m), decode_scale(g, m)
    rep = replica(T, g, fe, he, eng, m.max_position_embeddings, spec=sp, prefix_cache_hit=hit, prefill_scale=kp,
                  decode_scale=kd)  # fmt: skip
    mem, rates = rep.memory, rep.rates
    rng = np.random.default_rng(seed_)
    prompts = lengths(s_mean, rr, N, rng)
    outputs = lengths(n_mean, rr, N, rng)
    longest = int(prompts.max() + outputs.max())
    if mem.blocks == 0 or mem.max_concurrency(T, longest) < 1:
        from ..errors import DoesNotFitError

        raise DoesNotFitError(
            f"{m.id} on {g.id} (tp={T.t}, {d.id}) leaves {eng.id} a KV cache of {mem.kv_cache_tokens:,} tokens, "
            f"less than one request of {longest:,}; use a larger tp, a GPU with more memory or shorter requests",
            field="tp",
        )
    _, cap_rate = rep.capacity(s_mean, n_mean, mem.max_concurrency(T, int(s_mean + n_mean)))
    saturated = math.isfinite(rate) and rate > cap_rate
    send = arrivals(N, rate, burst, rng)
    cached = prompts - np.maximum(np.round((1 - hit) * prompts), 1).astype(prompts.dtype) if hit else None
    state, sent = run(rates, mem, T, eng, prompts, outputs, send, C, eng.front_end_s, cached)
    ttft = state.first - sent
    e2e = state.finish - sent
    multi = outputs > 1
    tpot = (e2e[multi] - ttft[multi]) / (outputs[multi] - 1)
    itl_v = np.concatenate([np.atleast_1d(np.asarray(v, dtype=float)) for v, _ in state.itl_runs] or [np.empty(0)])
    itl_w = np.concatenate([np.broadcast_to(np.asarray(w, float), (np.size(v),)) for v, w in state.itl_runs] or
                           [np.empty(0)])  # fmt: skip
    duration = float(np.nanmax(state.finish) - np.nanmin(sent))
    if state.preemptions:
        warnings.append(
            f"{state.preemptions:,} preemptions: the KV cache ({mem.kv_cache_tokens:,} tokens) could not hold every "
            "running sequence; the evicted ones were recomputed"
        )
    if saturated:
        warnings.append(
            f"the replica saturates: {rate:,.4g} requests/s is {rate / cap_rate:.2f} x the {cap_rate:,.4g} it "
            "sustains; latencies grow with the run's length"
        )
    stats = {}
    for name, values, weights in (
        ("ttft", ttft, None),
        ("tpot", tpot, None),
        ("itl", itl_v, itl_w),
        ("e2e", e2e, None),
    ):
        mean, p50, p90, p99 = _percentiles(values, weights)
        stats.update({f"{name}_s": mean, f"{name}_p50_s": p50, f"{name}_p90_s": p90, f"{name}_p99_s": p99})
    return SimulationResult(
        model=m.id,
        gpu=g.id,
        dtype=d.id,
        engine=eng.id,
        tp=T.t,
        pp=T.p,
        num_requests=N,
        prompt_tokens=float(prompts.mean()),
        completion_tokens=float(outputs.mean()),
        max_concurrency=C,
        request_rate=rate,
        duration_s=duration,
        requests_per_s=N / duration,
        output_tokens_per_s=float(outputs.sum()) / duration,
        total_tokens_per_s=float(outputs.sum() + prompts.sum()) / duration,
        peak_concurrency=state.peak,
        mean_concurrency=state.busy / duration,
        kv_cache_peak_fraction=state.kv_peak,
        preemptions=state.preemptions,
        steps=state.steps,
        kv_cache_tokens=mem.kv_cache_tokens,
        max_num_seqs=mem.max_num_seqs,
        max_num_batched_tokens=mem.max_num_batched_tokens,
        capacity_requests_per_s=cap_rate,
        saturated=saturated,
        warnings=tuple(warnings),
        prefix_cache_hit=hit,
        dp=T.dp,
        ep=T.ep,
        **stats,
    )


def _positive(value: Any, field: str, low: float, high: float) -> float:
    from ..checks import as_number

    v = as_number(value, field)
    if isinstance(v, np.ndarray) or not (low <= v <= high):
        raise InvalidInputError(f"{field} must be a number from {low:g} to {high:g}, got {value!r}", field=field)
    return float(v)


def _rate(value: Any) -> float:
    from ..checks import as_number

    v = as_number(value, "request_rate")
    if isinstance(v, np.ndarray) or not (v > 0) or (v < 1e-9) or (math.isfinite(v) and v > 1e9):
        raise InvalidInputError(
            f"request_rate must be > 0 requests/s (at least 1e-9, at most 1e9, or inf for a burst), got {value!r}",
            field="request_rate",
        )
    return float(v)


def _fraction_below_one(value: Any, field: str) -> float:
    from ..checks import as_number

    v = as_number(value, field)
    if isinstance(v, np.ndarray) or not (0 <= v < 1):
        raise InvalidInputError(f"{field} must be in [0, 1), got {value!r}; give e.g. 0.1", field=field)
    return float(v)


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < 2**63:
        raise InvalidInputError(f"seed must be a whole number ≥ 0, got {value!r}", field="seed")
    return int(value)
