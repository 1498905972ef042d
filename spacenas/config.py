"""Typed configs, validated at the edge.

Every component that takes options declares a pydantic model (``extra='forbid'``: an unknown
key is an error, never silently ignored; ``allow_inf_nan=False``: no float option may be NaN or
infinite; a ``bool`` field takes only ``true`` / ``false``, not pydantic's lax ``1``, ``"yes"`` or
``"off"``: a typo such as ``--set fused=5`` is an error naming the key, never a silent ``True``). :func:`build_config` turns a pydantic validation failure into a one-line
:class:`SpacenasError` that names the field, the value and what is allowed.

Shared constraints live here too: :data:`Seed` (what numpy and torch both accept, with room for
the ``seed + k`` offsets the runs use), :data:`Momentum` (``[0, 1)``), :func:`parse_value` (a
``--set`` value as JSON, refusing absurdly nested input) and :func:`check_dims` (integer sizes of
networks built from keyword options).
"""
from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from spacenas.errors import SpacenasError

M = TypeVar("M", bound=BaseModel)

#: seeds are 0 <= seed <= MAX_SEED: torch.manual_seed takes < 2**64, numpy any int >= 0, and runs
#: derive generators from seed + k for small k
MAX_SEED = 2**63 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
#: SGD / EMA momentum
Momentum = Annotated[float, Field(ge=0, lt=1)]
#: nesting allowed in a ``--set`` JSON value (configs nest two or three levels)
MAX_JSON_DEPTH = 32


class StrictModel(BaseModel):
    """Base of all spacenas configs: unknown keys are errors, values are validated on assignment,
    and float fields must be finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_bools(cls, value: Any, info: ValidationInfo) -> Any:
        """Every ``bool`` (or ``bool | None``) field of every config is strict: only a real
        ``True``/``False`` (JSON ``true``/``false``; YAML and TOML booleans) is taken."""
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is not None and not isinstance(value, bool) and is_bool_type(field.annotation) \
                and not (value is None and _allows_none(field.annotation)):
            raise PydanticCustomError("bool_type", BOOL_MESSAGE)
        return value


#: the error of a non-boolean value for a bool option
BOOL_MESSAGE = "expected true or false"


def _args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def is_bool_type(annotation: Any) -> bool:
    """``bool``, ``bool | None`` or ``Optional[bool]``."""
    args = [a for a in _args(annotation) if a is not type(None)]
    return args == [bool]


def _allows_none(annotation: Any) -> bool:
    return type(None) in _args(annotation)


def _short(value: Any, limit: int = 80) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_config(model: type[M], values: dict[str, Any] | None = None, *, where: str = "") -> M:
    """Validate ``values`` against ``model``; raise :class:`SpacenasError` on the first problem."""
    prefix = f"{where}: " if where else ""
    if values is not None and not isinstance(values, dict):
        raise SpacenasError(f"{prefix}expected a mapping of options, got {_short(values)}")
    try:
        return model(**(values or {}))
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = " ".join(str(err["msg"]).split())
        if err["type"] in ("bool_type", "bool_parsing"):  # pydantic's own wording names no values
            msg = BOOL_MESSAGE
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(model.model_fields) or "none: this component takes no options"
            raise SpacenasError(f"{prefix}unknown option {field!r} (allowed: {allowed})") from None
        if not field:  # a check across fields (model validator): the message names them
            raise SpacenasError(f"{prefix}{msg.removeprefix('Value error, ')}") from None
        if err["type"] == "list_type" and isinstance(err.get("input"), str):  # --set KEY=text
            msg += f""" (on the command line a list is JSON: --set '{field}=["...", "..."]')"""
        raise SpacenasError(f"{prefix}bad value {_short(err.get('input'))} for {field!r}: {msg}") from None
    except RecursionError:
        raise SpacenasError(f"{prefix}options nested too deeply") from None


def json_depth(value: Any) -> int:
    """Nesting depth of lists/dicts in ``value`` (a scalar: 0), without recursion."""
    depth, level = 0, [value]
    while level:
        nxt = [v for x in level if isinstance(x, (list, dict)) for v in (x.values() if isinstance(x, dict) else x)]
        if any(isinstance(x, (list, dict)) for x in level):
            depth += 1
        level = nxt
    return depth


def parse_value(raw: str, what: str = "--set value") -> Any:
    """A ``KEY=VALUE`` value: JSON when it parses (``3``, ``0.5``, ``true``, ``[1,2]``), else the
    text itself. Nesting deeper than :data:`MAX_JSON_DEPTH` is refused with one line."""
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
    except json.JSONDecodeError:
        return raw
    else:
        if json_depth(value) <= MAX_JSON_DEPTH:
            return value
    raise SpacenasError(f"bad {what} {_short(raw, 40)}: nested deeper than {MAX_JSON_DEPTH} levels")


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an int in ``0..MAX_SEED`` or a one-line error."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SpacenasError(f"bad {what} {_short(seed, 40)}: expected an integer 0..{MAX_SEED} (2**63 - 1)")
    return seed


def check_dims(**dims: Any) -> None:
    """Each keyword (a network size such as ``C`` or ``N``) must be an integer >= 1."""
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpacenasError(f"bad value {_short(v, 40)} for {name!r}: expected an integer >= 1")


def parse_device(device: Any = None):
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` (or a :class:`torch.device`) -> a usable torch
    device (``None``: cpu); anything else (``''``, ``meta``, ``tpu``, CUDA without CUDA) is a one-line
    :class:`SpacenasError` (see :func:`spacenas.devices.resolve_device`)."""
    from spacenas.devices import resolve_device

    return resolve_device(device)
