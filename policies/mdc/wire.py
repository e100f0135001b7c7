"""Decode each resource once per request, not once per policy.

The policy SDK (pulumi_policy 1.x, `_PolicyAnalyzerServicer`) decodes a request's properties
inside its loop over policies: `Analyze` turns the same protobuf Struct into dicts and
unknown-checking proxies once for every resource policy, and `AnalyzeStack` decodes every
resource of the stack once for every stack policy. With 27 policies that decoding was 97% of
the pack's time (cProfile, docs/benchmarks.md). The values it produces are read-only to a
validating policy, so one decoding per message, shared by every policy of the same request,
gives each policy exactly what it got before.

`install()` wraps the servicer's `Analyze` and `AnalyzeStack` so that, for the duration of
one request and on the thread serving it, the SDK's three decoding steps remember their
result per input object (a message, then its dict, then its deserialized dict). Outside a
request (`Remediate`, which mutates its proxies) nothing is remembered. If a future SDK
renames what is wrapped, `install()` leaves the SDK as it is: slower, never wrong.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Mapping, Optional

_scope = threading.local()


def _remembered(decode: Callable[[Any], Any]) -> Callable[..., Any]:
    """`decode(value)` remembered by the identity of `value` within the current request.

    The memo keeps a reference to `value`, so its id cannot be reused by another object
    while the request lasts; it is dropped when the request ends."""
    @functools.wraps(decode)
    def remembered(value: Any, *rest: Any, **options: Any) -> Any:
        memo = getattr(_scope, "memo", None)
        if memo is None or rest or options:
            return decode(value, *rest, **options)
        key = (decode, id(value))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (value, decode(value))
            # What each decoded value was decoded from, back to the message's own dict (secrets
            # still wrapped), so that a policy can ask what the SDK unwrapped (`raw`).
            _scope.origin[id(hit[1])] = _scope.origin.get(id(value), hit[1])
        return hit[1]
    return remembered


def raw(props: Any) -> Optional[Mapping[str, Any]]:
    """The properties a policy was given as the engine sent them: Pulumi secrets still wrapped
    (`{SPECIAL_SIG_KEY: SECRET_SIG, "value": ...}`), unknowns as the SDK's sentinels. None
    outside a request or when decoding is not shared (then secrets cannot be told apart)."""
    origin = getattr(_scope, "origin", None)
    return origin.get(id(props)) if origin else None


def request_state() -> dict[str, Any]:
    """A dict that lives as long as the current request (empty outside one): what one policy
    leaves for a later policy of the same request."""
    state = getattr(_scope, "state", None)
    return state if state is not None else {}


def _remembered_method(read: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`read(self, message)` remembered by the identity of `message` within the current request."""
    @functools.wraps(read)
    def remembered(self: Any, message: Any) -> Any:
        memo = getattr(_scope, "memo", None)
        if memo is None:
            return read(self, message)
        key = (read, id(message))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (message, read(self, message))
        return hit[1]
    return remembered


def _one_request(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def serve(self: Any, request: Any, context: Any) -> Any:
        _scope.memo, _scope.origin, _scope.state = {}, {}, {}
        try:
            return handler(self, request, context)
        finally:
            _scope.memo = _scope.origin = _scope.state = None
    return serve


_stack_listeners: list[Callable[[], None]] = []


def on_configure_stack(listener: Callable[[], None]) -> None:
    """Call `listener()` whenever the engine starts on a stack (`ConfigureStack`)."""
    _stack_listeners.append(listener)


def _announcing(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def configure(self: Any, request: Any, context: Any) -> Any:
        for listener in _stack_listeners:
            listener()
        return handler(self, request, context)
    return configure


class _JsonFormat:
    """The SDK's `json_format` module with `MessageToDict` remembered."""

    def __init__(self, module: Any):
        self._module = module
        self.MessageToDict = _remembered(module.MessageToDict)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def install() -> bool:
    """Share decoded properties between the policies of one request; True if installed."""
    from pulumi_policy import policy as sdk

    servicer = getattr(sdk, "_PolicyAnalyzerServicer", None)
    needed = ("json_format", "deserialize_properties", "unknown_checking_proxy")
    methods = ("Analyze", "AnalyzeStack", "ConfigureStack", "_get_resource_options", "_get_provider_resource")
    if (servicer is None or not all(hasattr(sdk, name) for name in needed)
            or not all(hasattr(servicer, name) for name in methods)):
        return False
    if getattr(servicer, "_mdc_shared", False):
        return True
    sdk.json_format = _JsonFormat(sdk.json_format)
    sdk.deserialize_properties = _remembered(sdk.deserialize_properties)
    sdk.unknown_checking_proxy = _remembered(sdk.unknown_checking_proxy)
    # The options and provider of a request message, read once per policy by the SDK.
    for name in ("_get_resource_options", "_get_provider_resource"):
        setattr(servicer, name, _remembered_method(getattr(servicer, name)))
    servicer.Analyze = _one_request(servicer.Analyze)
    servicer.AnalyzeStack = _one_request(servicer.AnalyzeStack)
    servicer.ConfigureStack = _announcing(servicer.ConfigureStack)
    servicer._mdc_shared = True
    return True
