"""``ramp gateway --model ID``: Ramp's model gateway, standalone, for agents run outside Ramp.

It serves one catalog model at ``http://127.0.0.1:PORT/v1`` (OpenAI's chat completions and models
routes) through Ramp's model layer, exactly as ``--agent command`` does inside a run: the catalog's
prices, per-account limits and retries, an optional budget, redaction, and one ``llm_calls`` row per
call in the store, under the session id it prints (``gateway-...``). It prints the base URL and the
key to set as ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``, and runs until Ctrl-C, then prints what
the session spent. The key is made for this session; the provider's own key never leaves Ramp.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, config_arg: Callable[[Any], None], runs_dir_arg: Callable[[Any], None]) -> None:
    gateway = sub.add_parser("gateway", help="serve a catalog model as an OpenAI-compatible endpoint on 127.0.0.1")
    gateway.add_argument("--model", required=True, help="model id from config/models.yaml")
    gateway.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    gateway.add_argument("--budget-usd", type=float, default=None, help="refuse calls past this spend")
    config_arg(gateway)
    runs_dir_arg(gateway)


def cmd_gateway(args: argparse.Namespace, settings: Any) -> int:
    import anyio

    from .core.errors import ConfigError
    from .core.secrets import Redactor, Secrets
    from .core.secrets import install as install_redactor
    from .models.base import CallContext
    from .models.catalog import load_catalog
    from .models.factory import RunModels, model_checks
    from .models.gateway import Gateway
    from .store import Store

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port (0 to 65535; 0 picks a free one)", field="--port")
    session = f"gateway-{time.strftime('%Y%m%d-%H%M%S')}"

    async def serve() -> int:
        catalog = load_catalog(settings.paths.models_file)
        entry = catalog.get(args.model)
        credentials = Secrets.load(settings.paths.secrets_file)
        redact = Redactor.for_secrets(credentials)
        install_redactor(redact)
        failed = [c for c in await model_checks([entry], credentials, str(catalog.path)) if not c.ok]
        if failed:
            raise ConfigError("; ".join(c.line() for c in failed), field="--model")
        async with Store(settings.paths.runs_dir / "ramp.sqlite", redact=redact) as store:
            models = RunModels(catalog, credentials, store=store, run_id=session, budget_usd=args.budget_usd,
                               redact=redact)
            try:
                async with Gateway(models.get(entry.id), context=CallContext(run_id=session, purpose="gateway"),
                                   model_name=entry.id, port=args.port) as gateway:
                    print(f"serving {entry.id} for session {session}\n"
                          f"  export OPENAI_BASE_URL={gateway.base_url}\n"
                          f"  export OPENAI_API_KEY={gateway.key}\n"
                          f"  export OPENAI_MODEL={entry.id}\n"
                          "Ctrl-C stops it.", flush=True)
                    try:
                        await anyio.sleep_forever()
                    finally:
                        with anyio.CancelScope(shield=True):
                            spent = await store.run_spend(session)
                            print(f"\n{gateway.calls} call(s), ${spent:.4f}, recorded in {store.path} "
                                  f"under {session}", file=sys.stderr, flush=True)
            finally:
                with anyio.CancelScope(shield=True):
                    await models.aclose()
        return 0

    try:
        return anyio.run(serve)
    except KeyboardInterrupt:
        return 0
