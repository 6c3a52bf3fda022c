"""The catalog of models, GPUs and data types.

Built-in entries live in TOML files under ``llmxl/data`` (one file per
family, sorted by id, each entry with its source and the date it was
checked). They are read on first use, validated, and cached.

User entries come from TOML files with the same layout, found through the
``LLMXL_CATALOG`` environment variable (paths separated by ``os.pathsep``) or,
when it is unset, the default file :func:`default_user_catalog_path`. A user
model entry may also point at a Hugging Face ``config.json`` with
``config = "path"``. :func:`add_catalog_file` adds a file at run time.

Names are matched case-insensitively, with spaces and underscores read as
hyphens; an unknown name raises :class:`~llmxl.errors.UnknownNameError` with
suggestions.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checks import format_value
from .errors import CatalogError, InvalidInputError, UnknownNameError
from .text import skeleton, spelled_with

if TYPE_CHECKING:  # pydantic and the specs load with the catalog, not with `import llmxl`
    from .engines import EngineSpec
    from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = [
    "Catalog",
    "add_catalog_file",
    "default_user_catalog_path",
    "dtypes",
    "engines",
    "get_catalog",
    "get_dtype",
    "get_engine",
    "get_gpu",
    "get_model",
    "gpus",
    "method_defaults",
    "models",
    "natural_key",
    "normalise_name",
    "problems",
    "reset",
    "serving_constants",
]

ENV_VAR = "LLMXL_CATALOG"
_KINDS = ("models", "gpus", "dtypes", "engines")
_SINGULAR = {"models": "model", "gpus": "gpu", "dtypes": "dtype", "engines": "engine"}
_SEP = re.compile(r"[\s_]+")
_LONGEST_NAME = 300  # beyond it no name is suggested (a did-you-mean over megabytes of text would hang)


def not_a_name(singular: str, name: Any) -> InvalidInputError:
    """The error for a name that is not text (a number, bytes, a path, None)."""
    if name is None:
        return InvalidInputError(
            f"{singular} is missing; give a name such as those `llmxl catalog` lists", field=singular
        )
    if isinstance(name, bytes):
        why = "bytes; decode them to text first"
    elif isinstance(name, os.PathLike):
        why = f"a path ({os.fspath(name)!r}); a config.json path goes to estimate() or ModelSpec.from_hf_config()"
    else:
        why = f"{type(name).__name__} {format_value(name)}"
    return InvalidInputError(f"{singular} must be a name (text), got {why}", field=singular)


def normalise_name(name: str) -> str:
    """The lookup key of a name: trimmed, lower case, spaces/underscores as '-'."""
    return _SEP.sub("-", name.strip().lower())


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders 'llama-2-7b' before 'llama-2-13b'."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def default_user_catalog_path() -> Path:
    """Where llmxl looks for a user catalog when ``LLMXL_CATALOG`` is unset.

    ``%APPDATA%\\llmxl\\catalog.toml`` on Windows, otherwise
    ``$XDG_CONFIG_HOME/llmxl/catalog.toml`` (``~/.config/llmxl/catalog.toml``).
    """
    if sys.platform.startswith("win") and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "llmxl" / "catalog.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "llmxl" / "catalog.toml"


@dataclass
class Catalog:
    """Validated entries by id, and a name index per kind."""

    entries: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in _KINDS})
    index: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in _KINDS})
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    found: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Names already looked up, as given (a cell recalculating asks the same names again)."""
    methods: dict[str, Any] = field(default_factory=dict)
    """Per method, its defaults from llmxl/data/methods.toml (see :func:`method_defaults`)."""
    api_prices: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Hosted API prices by (provider, model id) of llmxl's own file, then user entries."""
    api_tables: dict[Any, Any] = field(default_factory=dict)
    """Every source's API prices by the date they are in force, and under "status" the genai-prices snapshot
    they were read from (:func:`llmxl.api_catalog.price_table`)."""
    finance: Any = None
    """Conventions of cost of service (llmxl/data/finance.toml)."""
    default_engine: str = ""
    """The engine a result assumes when the caller names none (llmxl/data/engines.toml)."""
    variants: dict[str, Any] = field(default_factory=dict)
    """Models by the normalised alias of a repository published in another precision: the model with that
    precision as its ``released`` one (``ModelSpec.released_variants``)."""
    energy: Any = None
    """Defaults of the energy of serving: power fraction, server share, PUE, grid intensity (llmxl/data/energy.toml)."""
    speculative: Any = None
    """Published acceptance figures of speculative decoders (llmxl/data/speculative.toml)."""
    skeletons: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in _KINDS})
    """Per kind, what each name looks like (:func:`llmxl.text.skeleton`) -> the id it names."""
    broken: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in (*_KINDS, "api_prices")})
    """Per kind, names of user entries that could not be read -> why: raised when the name is used."""
    problems: list[str] = field(default_factory=list)
    """Every user-catalog problem, in load order (entries skipped, files not read)."""
    file_problems: list[str] = field(default_factory=list)
    """Problems no name can carry (a file not read, an entry without an id): told with unknown names."""

    def add(self, kind: str, spec: Any, where: str) -> None:
        singular = _SINGULAR[kind]
        names = (spec.id, *spec.aliases)
        for name in names:
            key = normalise_name(name)
            taken = self.index[kind].get(key)
            if taken is not None and (taken != spec.id or name == spec.id):
                raise CatalogError(
                    f"{where}: {singular} {spec.id!r}: name {name!r} is already used by "
                    f"{singular} {taken!r} ({self.origin[(kind, taken)]}); rename it"
                )
            like = self.skeletons[kind].get(skeleton(name))
            if like is not None and like != spec.id:
                raise CatalogError(
                    f"{where}: {singular} {spec.id!r}: name {name!r} looks like {singular} {like!r} "
                    f"({self.origin[(kind, like)]}) but is spelled with {spelled_with(name) or 'other characters'}; "
                    f"did you mean {like!r}? rename it so that it reads differently"
                )
        if kind == "models":
            self._check_released(spec, where)
        for name in names:
            key = normalise_name(name)
            self.index[kind][key] = spec.id
            self.variants.pop(key, None)  # a user entry replacing a built-in one drops its variants
            self.skeletons[kind].setdefault(skeleton(name), spec.id)
        self.entries[kind][spec.id] = spec
        self.origin[(kind, spec.id)] = where
        if kind == "models" and spec.released_variants:
            from .specs import ReleasedPrecision

            for variant in spec.released_variants:
                released = ReleasedPrecision(**variant.model_dump(exclude={"aliases"}))
                copy = spec.model_copy(update={"released": released})
                for alias in variant.aliases:
                    self.variants[normalise_name(alias)] = copy

    def _check_released(self, spec: Any, where: str) -> None:
        """A released precision names a catalog dtype (dtypes load before models)."""
        for part, label in ((spec.released, "released"), *((v, "released_variants") for v in spec.released_variants)):
            if part is None or part.dtype is None:
                continue
            if normalise_name(part.dtype) not in self.index["dtypes"]:
                raise CatalogError(
                    f"{where}: model {spec.id!r}: {label}.dtype {part.dtype!r} is not a catalog dtype; "
                    "use an id or alias of llmxl/data/dtypes.toml"
                )

    def lookup(self, kind: str, name: str) -> Any:
        if type(name) is not str:
            raise not_a_name(_SINGULAR[kind], name)
        hit = self.found.get((kind, name))
        if hit is not None:
            return hit
        key = normalise_name(name)
        why = self.broken[kind].get(key)
        if why is not None:  # a user entry that could not be read: said when its name is used, never guessed
            raise CatalogError(why, field=_SINGULAR[kind])
        ident = self.index[kind].get(key)
        if ident is not None:
            spec = self.variants.get(key, self.entries[kind][ident]) if kind == "models" else self.entries[kind][ident]
            if len(self.found) < 4096:
                self.found[(kind, name)] = spec
            return spec
        raise UnknownNameError(self.unknown_message(kind, name), field=_SINGULAR[kind])

    def unknown_message(self, kind: str, name: str) -> str:
        message = self._unknown_message(kind, name)
        if self.file_problems:
            more = f" (and {len(self.file_problems) - 1} more)" if len(self.file_problems) > 1 else ""
            message += f"; note: {self.file_problems[0]}{more}"
        return message

    def _unknown_message(self, kind: str, name: str) -> str:
        key = normalise_name(name)
        singular = _SINGULAR[kind]
        if not key:
            return f"{singular} is blank; give a name such as {next(iter(self.entries[kind]))!r}"
        if len(key) > _LONGEST_NAME:
            return (
                f"unknown {singular} {name[:40]!r}… ({len(name):,} characters); `llmxl catalog {kind}` lists the names"
            )
        like = self.skeletons[kind].get(skeleton(name))
        if like is not None:
            return (
                f"unknown {singular} {name!r}: it looks like {like!r} but is spelled with "
                f"{spelled_with(name) or 'other characters'}; did you mean {like!r}?"
            )
        ids: list[str] = []
        for k, ident in self.index[kind].items():
            if (k.startswith(key) or key.startswith(k)) and ident not in ids:
                ids.append(ident)
        import difflib

        for k in difflib.get_close_matches(key, list(self.index[kind]), n=5, cutoff=0.6):
            ident = self.index[kind][k]
            if ident not in ids:
                ids.append(ident)
        if not ids:
            return f"unknown {singular} {name!r}; `llmxl catalog {kind}` lists the known ones" + (
                ", or give a config.json path" if kind == "models" else ""
            )
        # Names that start with what was typed first; among them the common variants (those with a catalog
        # price: what people rent), then natural order.
        extends = {ident for k, ident in self.index[kind].items() if k.startswith(key)}
        priced = {ident for ident in ids if getattr(self.entries[kind].get(ident), "usd_per_hour", None)}
        order = {ident: i for i, ident in enumerate(ids)}  # otherwise: prefixes, then difflib's closest first
        ids.sort(
            key=lambda ident: (
                (0, ident not in priced, natural_key(ident), 0) if ident in extends else (1, False, (), order[ident])
            )
        )
        quoted = [repr(i) for i in ids[:3]]
        options = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return f"unknown {singular} {name!r}; did you mean {options}?"


_lock = threading.Lock()
_catalog: Catalog | None = None
_extra_files: list[Path] = []


def _read_toml(path: Path | Any, label: str) -> dict[str, Any]:
    import tomllib

    from .textfile import read_small_file

    if isinstance(path, Path):  # a user's file: a regular UTF-8 file of sensible size
        text = read_small_file(path, "catalog file", "give the path of a .toml catalog file")
    else:  # a file of the package
        text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog file {label} is not valid TOML: {exc}") from None
    except RecursionError:
        raise CatalogError(f"catalog file {label} is nested too deeply to be a catalog") from None


def _entries_of(data: Mapping[str, Any], label: str) -> Iterable[tuple[str, dict[str, Any]]]:
    for key in data:
        if key not in _KINDS and key not in ("api_prices", "default_engine"):
            raise CatalogError(
                f"{label}: unknown table {key!r}; use [[models]], [[gpus]], [[dtypes]], [[engines]] or [[api_prices]]"
            )
    for kind in (*_KINDS, "api_prices"):
        items = data.get(kind, [])
        if not isinstance(items, list):
            raise CatalogError(f"{label}: {kind} must be an array of tables, written [[{kind}]]")
        for item in items:
            yield kind, item


def _check_inline_fields(item: Mapping[str, Any], where: str, entry_id: object) -> None:
    """Refuse a key of an inline catalog model that llmxl does not read, with a did-you-mean."""
    import difflib

    from .hf_config import HF_FIELDS
    from .specs import ModelSpec

    known = set(ModelSpec.model_fields) | HF_FIELDS | {"config", "torch_dtype", "dtype", "quantization_config"}
    for key in item:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "remove it or check its spelling"
            raise CatalogError(f"{where}: model {entry_id!r}: unknown field {key!r}; {hint}")


def _build_spec(kind: str, item: dict[str, Any], label: str, base_dir: Path | None) -> Any:
    from pydantic import ValidationError

    from .engines import EngineSpec
    from .specs import DtypeSpec, GpuSpec, ModelSpec, format_validation_error

    entry_id = item.get("id")
    if not entry_id:
        raise CatalogError(f'{label}: a [[{kind}]] entry has no id; add id = "..."')
    if kind == "models" and base_dir is not None:
        # User model entries read like config.json, optionally pointing at one.
        item = dict(item)
        _check_inline_fields(item, label, entry_id)
        config_path = item.pop("config", None)
        if config_path is not None:
            beside = sorted(set(item) - {"id", "aliases", "checked", "source"})
            if beside:
                raise CatalogError(
                    f"{label}: model {entry_id!r}: {beside[0]!r} beside config = ... is not read; put it in the "
                    "config.json, or give every field inline without config"
                )
            if not isinstance(config_path, str):
                raise CatalogError(f"{label}: model {entry_id!r}: config must be a path (text), got {config_path!r}")
            path = Path(config_path)
            if not path.is_absolute():
                path = base_dir / path
            spec = ModelSpec.from_hf_config(path, id=entry_id, source=item.get("source"))
            fields = {**spec.model_dump(), **{k: item[k] for k in ("aliases", "checked") if k in item}}
            try:
                return ModelSpec(**fields)  # validated like every entry
            except ValidationError as exc:
                raise CatalogError(f"{label}: {format_validation_error(exc, 'model', entry_id)}") from None
        try:
            return ModelSpec.from_hf_config(item, source=item.get("source") or label)
        except CatalogError as exc:
            message = exc.message
            if message.startswith("model config: "):  # name the entry, not "model config"
                message = f"model {entry_id!r}: " + message[len("model config: ") :]
            raise CatalogError(f"{label}: {message}") from None
    if base_dir is not None:
        item = {"source": label, **item}
    try:
        return {"models": ModelSpec, "gpus": GpuSpec, "dtypes": DtypeSpec, "engines": EngineSpec}[kind](**item)
    except ValidationError as exc:
        raise CatalogError(f"{label}: {format_validation_error(exc, _SINGULAR[kind], entry_id)}") from None
    except TypeError as exc:
        raise CatalogError(f"{label}: {_SINGULAR[kind]} {entry_id!r}: {exc}") from None


def _add_api_price(cat: Catalog, item: dict[str, Any], label: str) -> None:
    from pydantic import ValidationError

    from .specs import ApiPrice, format_validation_error

    name = f"{item.get('provider')}/{item.get('model')}"
    try:
        price = ApiPrice(**item)
    except ValidationError as exc:
        raise CatalogError(f"{label}: {format_validation_error(exc, 'api price', name)}") from None
    except TypeError as exc:
        raise CatalogError(f"{label}: api price {name!r}: {exc}") from None
    try:
        model = cat.lookup("models", price.model).id
    except UnknownNameError as exc:
        raise CatalogError(f"{label}: api price {name!r}: {exc.message}") from None
    price = price.model_copy(update={"model": model})
    key = (price.provider, model)
    if key in cat.api_prices and cat.origin.get(("api_prices", f"{key}")) == label:
        raise CatalogError(f"{label}: api price {name!r} is listed twice; keep one")
    cat.api_prices[key] = price  # a user file may replace a built-in price
    cat.origin[("api_prices", f"{key}")] = label


def _load_file(cat: Catalog, path: Any, label: str, *, user: bool, strict: bool = True) -> None:
    """Read one catalog file into ``cat``. Not ``strict`` (a user file found at start-up), a bad entry is
    set aside under its names and a file that cannot be read is noted: neither stops the others."""
    try:
        data = _read_toml(path, label)
        items = list(_entries_of(data, label))
        if "default_engine" in data:
            if user or not isinstance(data["default_engine"], str):
                raise CatalogError(f"{label}: default_engine is set by llmxl/data/engines.toml only; remove it")
            cat.default_engine = data["default_engine"]
    except CatalogError as exc:
        if strict:
            raise
        cat.problems.append(exc.message)
        cat.file_problems.append(exc.message)
        return
    base_dir = Path(label).parent if user else None
    for kind, item in items:
        try:
            if not isinstance(item, dict):
                raise CatalogError(f"{label}: each [[{kind}]] entry must be a table")
            if kind == "api_prices":
                _add_api_price(cat, item, label)
                continue
            cat.add(kind, _build_spec(kind, item, label, base_dir), label)
        except CatalogError as exc:
            if strict:
                raise
            _set_aside(cat, kind, item, exc.message)


def _set_aside(cat: Catalog, kind: str, item: Any, why: str) -> None:
    """Remember a user entry that could not be read, under every name it gives, to raise when one is used."""
    cat.problems.append(why)
    if kind == "api_prices":
        if isinstance(item, dict) and isinstance(item.get("provider"), str) and isinstance(item.get("model"), str):
            cat.broken["api_prices"][f"{item['provider'].strip().lower()}/{normalise_name(item['model'])}"] = why
        return
    names = []
    if isinstance(item, dict):
        aliases = item.get("aliases")
        names = [item.get("id"), *(aliases if isinstance(aliases, (list, tuple)) else [])]
    names = [n for n in names if isinstance(n, str) and n.strip()]
    if not names:
        cat.file_problems.append(why)
    for name in names:
        cat.broken[kind].setdefault(normalise_name(name), why)


def builtin_files() -> list[tuple[Any, str]]:
    """The built-in catalog files as (resource, label) pairs, in load order."""
    root = resources.files("llmxl") / "data"
    files = [(root / "dtypes.toml", "llmxl/data/dtypes.toml"), (root / "engines.toml", "llmxl/data/engines.toml")]
    for sub in ("models", "gpus"):
        folder = root / sub
        for res in sorted(folder.iterdir(), key=lambda r: r.name):
            if res.name.endswith(".toml"):
                files.append((res, f"llmxl/data/{sub}/{res.name}"))
    return files


def user_catalog_paths() -> list[Path]:
    """User catalog files in effect: ``LLMXL_CATALOG`` or the default file."""
    env = os.environ.get(ENV_VAR)
    if env is not None:
        paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        default = default_user_catalog_path()
        paths = [default] if default.is_file() else []
    return paths + [p for p in _extra_files if p not in paths]


def _load_methods(cat: Catalog) -> None:
    from pydantic import ValidationError

    from .conventions import EnergyConventions, FinanceConventions
    from .specs import MethodDefaults, format_validation_error

    label = "llmxl/data/methods.toml"
    data = _read_toml(resources.files("llmxl") / "data" / "methods.toml", label)
    for name, item in data.items():
        try:
            cat.methods[name] = MethodDefaults(**item)
        except ValidationError as exc:
            raise CatalogError(f"{label}: {format_validation_error(exc, 'method', name)}") from None
    label = "llmxl/data/finance.toml"
    data = _read_toml(resources.files("llmxl") / "data" / "finance.toml", label)
    try:
        cat.finance = FinanceConventions(**data)
    except ValidationError as exc:
        raise CatalogError(f"{label}: {format_validation_error(exc, 'finance conventions')}") from None
    label = "llmxl/data/energy.toml"
    data = _read_toml(resources.files("llmxl") / "data" / "energy.toml", label)
    try:
        cat.energy = EnergyConventions(**data)
    except ValidationError as exc:
        raise CatalogError(f"{label}: {format_validation_error(exc, 'energy conventions')}") from None
    from .speculation import SpeculativeData

    label = "llmxl/data/speculative.toml"
    data = _read_toml(resources.files("llmxl") / "data" / "speculative.toml", label)
    try:
        cat.speculative = SpeculativeData(**data)
    except ValidationError as exc:
        raise CatalogError(f"{label}: {format_validation_error(exc, 'speculative figures')}") from None


def _load(strict: Path | None = None) -> Catalog:
    """The built-in catalog and the user files; only ``strict`` (a file being added) fails on a bad entry."""
    cat = Catalog()
    _load_methods(cat)
    for res, label in builtin_files():
        _load_file(cat, res, label, user=False)
    for kind in _KINDS[:2]:  # list built-in models and GPUs in natural id order
        cat.entries[kind] = dict(sorted(cat.entries[kind].items(), key=lambda kv: natural_key(kv[0])))
    scale = cat.methods["serving"].prefill_scale
    named = [g for f in (scale.families if scale else ()) for g in f.gpus if g not in cat.entries["gpus"]]
    if named:
        raise CatalogError(
            f"llmxl/data/methods.toml: [serving.prefill_scale] families name {', '.join(named)}, not a built-in GPU "
            "id; use the catalog's ids (llmxl catalog gpus)"
        )
    decode = cat.methods["serving"].decode_scale
    named = [g for g in (decode.gpus if decode else ()) if g not in cat.entries["gpus"]]
    if named:
        raise CatalogError(
            f"llmxl/data/methods.toml: [serving.decode_scale] gpus names {', '.join(named)}, not a built-in GPU id; "
            "use the catalog's ids (llmxl catalog gpus)"
        )
    unknown = [g for g in cat.methods["serving"].fitted_gpus if g not in cat.entries["gpus"]]
    if unknown:
        raise CatalogError(
            f"llmxl/data/methods.toml: [serving] fitted_gpus names {', '.join(unknown)}, not a built-in GPU id; "
            "run python benchmarks/fit.py --write"
        )
    _load_file(cat, resources.files("llmxl") / "data" / "api_prices.toml", "llmxl/data/api_prices.toml", user=False)
    for path in user_catalog_paths():
        if path != strict and not path.is_file():
            why = (
                f"{ENV_VAR} names {str(path)!r}, which is not a file; fix or unset {ENV_VAR}"
                if path not in _extra_files
                else f"catalog file {str(path)!r} is gone; add it again"
            )
            cat.problems.append(why)
            cat.file_problems.append(why)
            continue
        _load_file(cat, path, str(path), user=True, strict=path == strict)
    return cat


def get_catalog() -> Catalog:
    """The loaded catalog (built-in plus user files), read once and cached."""
    global _catalog
    cat = _catalog
    if cat is None:
        with _lock:
            if _catalog is None:
                _catalog = _load()
            cat = _catalog
    return cat


def reset() -> None:
    """Forget the cached catalog and files added at run time; the next lookup reloads."""
    global _catalog
    with _lock:
        _catalog = None
        _extra_files.clear()


def reload() -> None:
    """Read the catalog files again on the next lookup (after llmxl itself wrote one); keeps added files."""
    global _catalog
    with _lock:
        _catalog = None


def add_catalog_file(path: str | os.PathLike[str]) -> None:
    """Add a user catalog file for the rest of this process, validating it now: any bad entry raises.

    Files found at start-up (``LLMXL_CATALOG``, the default file) are read leniently instead: a bad entry
    is set aside and raised when its name is used (:func:`problems` lists them).
    """
    global _catalog
    if not isinstance(path, (str, os.PathLike)):
        got = "nothing (None)" if path is None else f"{type(path).__name__} {format_value(path)}"
        raise InvalidInputError(f"catalog file must be the path of a .toml file, got {got}", field="path")
    try:
        p = Path(path).expanduser()
        exists = p.is_file()
    except (ValueError, OSError) as exc:  # a NUL byte, an unusable path
        raise CatalogError(f"catalog file {os.fspath(path)!r} cannot be used: {exc}") from None
    if not exists:
        raise CatalogError(f"catalog file {str(p)!r} does not exist; give the path of a .toml file")
    with _lock:
        added = p not in _extra_files
        if added:
            _extra_files.append(p)
        try:
            _catalog = _load(strict=p)
        except CatalogError:
            if added:
                _extra_files.remove(p)
            raise


def get_model(name: str) -> ModelSpec:
    """The catalog model called ``name`` (id or alias, any case)."""
    return get_catalog().lookup("models", name)


def get_gpu(name: str) -> GpuSpec:
    """The catalog GPU called ``name`` (id or alias, any case)."""
    return get_catalog().lookup("gpus", name)


def get_dtype(name: str) -> DtypeSpec:
    """The dtype called ``name``: a catalog id or alias, or any ``wXaYeZ`` name."""
    cat = get_catalog()
    try:
        return cat.lookup("dtypes", name)
    except UnknownNameError:
        from .specs import DtypeSpec

        parsed = DtypeSpec.parse(name)
        if parsed is None:
            raise
        return parsed


def get_engine(name: str | None = None) -> EngineSpec:
    """The catalog engine called ``name`` (id or alias, any case); None gives the default engine."""
    cat = get_catalog()
    return cat.lookup("engines", cat.default_engine if name is None else name)


def engines() -> list[str]:
    """Ids of all catalog engines."""
    return list(get_catalog().entries["engines"])


def problems() -> list[str]:
    """What could not be read from the user catalog files (entries set aside, files not read), in order."""
    return list(get_catalog().problems)


def method_defaults(method: str) -> Any:
    """The defaults of a method (efficiencies; for `serving` its GPU constants), with source and date."""
    return get_catalog().methods[method]


def serving_constants(gpu: GpuSpec) -> Any:
    """The `serving` constants of a GPU: its catalog entry's own, the method's defaults elsewhere."""
    from .specs import ServingConstants

    d = method_defaults("serving")
    given = d.model_dump(exclude={"source", "checked", "fitted_gpus", "prefill_scale", "decode_scale"})
    return gpu.serving_constants(ServingConstants(**given))


def models() -> list[str]:
    """Ids of all catalog models, built-in then user entries."""
    return list(get_catalog().entries["models"])


def gpus() -> list[str]:
    """Ids of all catalog GPUs, built-in then user entries."""
    return list(get_catalog().entries["gpus"])


def dtypes() -> list[str]:
    """Ids of all catalog dtypes."""
    return list(get_catalog().entries["dtypes"])
