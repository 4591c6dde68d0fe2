"""How a `/graphql` request flows before and after execution: limits, persisted queries, cost, cache.

    principal (api.security) -> request parameters -> rate limit -> persisted query -> allow-list
    -> cost and tier caps -> cost budget -> cache lookup (queries only) -> execute -> store if
    nothing restricted was read

A document this process already knows (analysed before, its persisted hash held here, within its
tier's caps and its client's allow-list) skips the steps between: its rate and its cost budget
are taken in one call (`Traffic.known`, `RateLimiter.take_all`), the budget only if the rate
admits the request. Either way the outcomes come in the same order: a 429 for the rate first, then
a refusal of the document, then a 429 for the budget; a refused request takes nothing more.

- Rate limits: GCRA per principal (client id, else subject, else the pseudonymised address) and
  tier; every answer carries `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; a refusal
  is a 429 with `Retry-After` and a GraphQL error body (code RATE_LIMITED).
- Cache: key = SHA-256 of the normalised document (graphql-core's printer: whitespace, comments),
  the operation name, the variables (sorted keys) and the tier. An entry keeps the version of every
  dataset its execution read; it is served only while those versions are current, so an import
  (City.record_loads, or the loads table written by another process) invalidates exactly what it
  should. A response is stored only when it is a 200 without errors whose execution let no
  restricted field through (`CityContext.restricted_read`) and met no denial.
- Documents are analysed (parse, cost, tier caps) by api.analysis; cached answers are sent with
  the prepared headers of api.cached_answers.
- GET answers carry an `ETag`; `If-None-Match` with it answers 304. `Cache-Control` is `public`
  for anonymous cacheable GETs (a CDN may keep them), `private` for other tiers, `no-store` otherwise.

docs/traffic.md has the whole story, including the behaviour while Redis is down.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import structlog
from graphql import (
    GraphQLSchema,
    OperationType,
)
from starlette.requests import Request
from starlette.responses import Response
from strawberry.http import GraphQLRequestData

from api.analysis import Analyses, Analysis
from api.cached_answers import PreparedResponse, answer_headers, etags, without_errors
from api.dataset_versions import ALL_DATASETS, DatasetVersions
from api.exchange import (
    GRAPHQL_RESPONSE,
    PREPARED,
    RequestError,
    exchange_of,
    negotiate,
    query_params_of,
)
from api.settings import Settings
from audit.service import pseudonyms_of
from auth.principal import Principal, Tier
from schema.city import City
from storage.apq import (
    LocalPersistedQueries,
    PersistedQueries,
    RedisPersistedQueries,
    load_manifest,
    sha256_hex,
)
from storage.breaker import Breaker
from storage.cache import CachedResponse, LocalCache, RedisCache, ResponseCache
from storage.load_news import LoadNews, announce
from storage.ratelimit import (
    Decision,
    LocalRateLimiter,
    Policy,
    RateLimiter,
    RedisRateLimiter,
    Take,
)
from storage.redis_client import RedisLink, connect

log = structlog.get_logger("citygraph.traffic")


@dataclass
class TrafficStats:
    """Counters for metrics and tests."""

    hits: int = 0
    misses: int = 0
    stored: int = 0
    not_modified: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class Traffic:
    """The request pipeline of one app, with its cache, limiters and persisted queries."""

    def __init__(self, settings: Settings, *, city: City, schema: GraphQLSchema) -> None:
        self.settings = settings
        self.schema = schema
        self.pseudonyms = pseudonyms_of(settings)
        self.versions = DatasetVersions(city, ttl_s=settings.dataset_versions_ttl_s)
        city.load_listeners.append(self.versions.bump)
        self.news: LoadNews | None = None
        self._announcing: set[asyncio.Future[bool]] = set()
        if settings.redis_url:
            # loads recorded elsewhere reach this process at once, not after the versions' TTL
            self.news = LoadNews(settings.redis_url, self.versions.refresh)
            city.load_listeners.append(self._announce)
        self.stats = TrafficStats()
        period = settings.rate_period_s
        self.rate_policies = {
            t: Policy(n, period) for t, n in settings.rate_limits.items() if n > 0
        }
        self.budget_policies = {
            t: Policy(n, period) for t, n in settings.cost_budgets.items() if n > 0
        }
        self.analyses = Analyses(settings, schema)
        self.refusal_listeners: list[Callable[[Request, Principal, str], None]] = []
        """Called on every refusal (code RATE_LIMITED, ...): the audit log records them."""
        self.registered: dict[str, str] = (
            load_manifest(settings.allowlist_manifest) if settings.allowlist_manifest else {}
        )
        self.allowlist = frozenset(settings.allowlist_clients)
        local_cache = LocalCache(max_bytes=settings.cache_local_bytes)
        local_limiter = LocalRateLimiter()
        local_apq = LocalPersistedQueries()
        self.link: RedisLink | None = None
        self.cache: ResponseCache = local_cache
        self.limiter: RateLimiter = local_limiter
        self.persisted: PersistedQueries = local_apq
        if settings.redis_url:
            timeout_s = settings.redis_timeout_ms / 1000
            self.link = RedisLink(
                connect(settings.redis_url, timeout_s=timeout_s),
                Breaker(
                    "redis",
                    failure_threshold=settings.redis_breaker_failures,
                    reset_after_s=settings.redis_breaker_reset_s,
                ),
                timeout_s=timeout_s,
            )
            self.cache = RedisCache(
                self.link, local=local_cache, local_ttl_s=settings.cache_local_ttl_s
            )
            self.limiter = RedisRateLimiter(self.link, fallback=local_limiter)
            self.persisted = RedisPersistedQueries(
                self.link, local=local_apq, ttl_s=settings.apq_ttl_s
            )

    def open(self) -> None:
        """Start listening for other processes' loads (with Redis)."""
        if self.news is not None:
            self.news.start()

    async def close(self) -> None:
        if self.news is not None:
            await self.news.close()
        await self.cache.close()
        if self.link is not None:
            await self.link.close()

    def _announce(self, datasets: set[str]) -> None:
        """Tell the other processes of a load recorded here (fire and forget, bounded)."""
        if self.settings.redis_url is None:
            return
        task = asyncio.ensure_future(announce(self.settings.redis_url, datasets))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    # --- who, and how often ------------------------------------------------------------------

    def rate_key(self, request: Request, principal: Principal) -> str:
        """Whose bucket: an app's client id, a person's subject, else the pseudonymised address."""
        exchange = exchange_of(request)
        if exchange.rate_key is not None:
            return exchange.rate_key
        who = _who(principal) or (
            f"anon:{self.pseudonyms(request.client.host if request.client else 'unknown')}"
        )
        key = exchange.rate_key = f"{principal.tier.value}:{who}"
        return key

    async def standing(self, principal: Principal) -> tuple[Decision | None, Decision | None]:
        """A known caller's rate and cost budget now, taking nothing (None: no such limit).

        For the developer portal. A take of zero units is GCRA's way to look.
        """
        who = _who(principal)
        if who is None:
            raise ValueError("an anonymous caller's standing depends on its request")
        key = f"{principal.tier.value}:{who}"
        pairs = (
            (key, self.rate_policies.get(principal.tier)),
            ("cost:" + key, self.budget_policies.get(principal.tier)),
        )
        takes = tuple((k, policy, 0) for k, policy in pairs if policy is not None)
        decisions = iter(await self.limiter.take_all(takes) if takes else ())
        rate, budget = (next(decisions) if policy else None for _, policy in pairs)
        return rate, budget

    def refuse(self, request: Request, principal: Principal, error: RequestError) -> RequestError:
        self.stats.refused[error.code] = self.stats.refused.get(error.code, 0) + 1
        for listener in self.refusal_listeners:
            listener(request, principal, error.code)
        return error

    async def admit(
        self, request: Request, principal: Principal, charge: Analysis | None = None
    ) -> Decision | None:
        """Take one request from the principal's bucket; RequestError 429 when it is empty.

        With `charge`, the document's cost is taken from the principal's budget in the same
        call, only if the rate allowed the request: one round trip to Redis instead of two.
        """
        rate = self.rate_policies.get(principal.tier)
        budget = self.budget_policies.get(principal.tier) if charge is not None else None
        takes: list[Take] = []
        if rate is not None:
            takes.append((self.rate_key(request, principal), rate, 1))
        if budget is not None and charge is not None and charge.cost.cost > 0:
            key = "cost:" + self.rate_key(request, principal)
            takes.append((key, budget, min(charge.cost.cost, budget.limit)))
        if not takes:
            return None
        decisions = await self.limiter.take_all(tuple(takes))
        decision = decisions[0] if rate is not None else None
        if decision is not None and not decision.allowed:
            raise self._rate_refused(request, principal, decision)
        spent = decisions[-1] if len(takes) > 1 or rate is None else None
        if charge is not None and spent is not None and not spent.allowed:
            raise self._budget_spent(request, principal, charge, spent)
        return decision

    def _rate_refused(
        self, request: Request, principal: Principal, decision: Decision
    ) -> RequestError:
        retry = decision.headers()["Retry-After"]
        log.info("rate limited", tier=principal.tier.value, retry_after_s=retry)
        return self.refuse(
            request,
            principal,
            RequestError(
                429,
                f"too many requests: {decision.limit} per {self.settings.rate_period_s:g} s for "
                f"tier {principal.tier.value}; retry in {retry} s",
                code="RATE_LIMITED",
                headers={**decision.headers(), "Cache-Control": "no-store"},
            ),
        )

    def _budget_spent(
        self, request: Request, principal: Principal, analysis: Analysis, decision: Decision
    ) -> RequestError:
        retry = decision.headers()["Retry-After"]
        return self.refuse(
            request,
            principal,
            RequestError(
                429,
                f"query cost budget spent: this document costs {analysis.cost.cost}, "
                f"{decision.remaining} of {decision.limit} per {self.settings.rate_period_s:g} s "
                f"remain for tier {tier_name(principal)}; retry in {retry} s",
                code="RATE_LIMITED",
                headers={"Retry-After": retry, "Cache-Control": "no-store"},
            ),
        )

    # --- which document ----------------------------------------------------------------------

    async def resolve(
        self, request: Request, principal: Principal, params: GraphQLRequestData
    ) -> GraphQLRequestData:
        """The request with its persisted query filled in, if it is allowed to run."""
        persisted = (params.extensions or {}).get("persistedQuery")
        query = params.query
        if persisted is not None:
            if not isinstance(persisted, dict):
                raise RequestError(400, "`persistedQuery` must be an object", "BAD_REQUEST")
            digest = persisted.get("sha256Hash")
            if persisted.get("version", 1) != 1 or not isinstance(digest, str):
                raise RequestError(400, "unsupported persistedQuery extension", "BAD_REQUEST")
            digest = digest.lower()
            if query is None:
                query = self.registered.get(digest)
                if query is None and self.settings.apq_enabled:
                    query = await self.persisted.get(digest)
                if query is None:
                    spec = negotiate(request.headers.get("accept")) == GRAPHQL_RESPONSE
                    raise PersistedQueryNotFound(400 if spec else 200)
            elif sha256_hex(query) != digest:
                raise RequestError(400, "provided sha does not match query", "BAD_REQUEST")
            elif self.settings.apq_enabled and digest not in self.registered:
                await self.persisted.put(digest, query)
        if principal.client_id in self.allowlist and (
            query is None or sha256_hex(query) not in self.registered
        ):
            raise self.refuse(
                request,
                principal,
                RequestError(
                    403,
                    "this client may run registered documents only",
                    "PERSISTED_QUERY_NOT_ALLOWED",
                ),
            )
        return params if query is params.query else replace(params, query=query)

    def check_caps(self, request: Request, principal: Principal, analysis: Analysis) -> None:
        """Refuse a document above its tier's cost or shape caps, saying what it asks and may."""
        over = self.analyses.over_cap(principal, analysis)
        if over is None:
            return
        what, value, limit, code = over
        status = 400 if negotiate(request.headers.get("accept")) == GRAPHQL_RESPONSE else 200
        raise self.refuse(
            request,
            principal,
            CostRefused(
                status,
                f"the document's {what} is {value}, over the limit of {limit} "
                f"for tier {principal.tier.value}",
                code,
                value=value,
                limit=limit,
            ),
        )

    def known(
        self, principal: Principal, params: GraphQLRequestData
    ) -> tuple[GraphQLRequestData, Analysis] | None:
        """The request's document and analysis, when this process knows both and may run them.

        Only what needs no I/O and refuses nothing: a document sent in full, or by a hash this
        process holds; analysed before; within the tier's caps and the client's allow-list.
        Anything else (None) goes the checked way, one step at a time after the rate limit.
        """
        query = params.query
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is not None:
            if query is not None or not isinstance(persisted, dict):
                return None  # a registration (to check and keep), or a malformed extension
            digest = persisted.get("sha256Hash")
            if persisted.get("version", 1) != 1 or not isinstance(digest, str):
                return None
            digest = digest.lower()
            query = self.registered.get(digest)
            if query is None and self.settings.apq_enabled:
                query = self.persisted.peek(digest)
        if query is None:
            return None
        if principal.client_id in self.allowlist and sha256_hex(query) not in self.registered:
            return None
        analysis = self.analyses.known(query, params)
        if analysis is None or self.analyses.over_cap(principal, analysis) is not None:
            return None
        return (params if query is params.query else replace(params, query=query)), analysis

    async def charge(self, request: Request, principal: Principal, analysis: Analysis) -> None:
        """Count the document's cost against the principal's budget; 429 when it is spent."""
        policy = self.budget_policies.get(principal.tier)
        if policy is None or analysis.cost.cost <= 0:
            return
        key = "cost:" + self.rate_key(request, principal)
        decision = await self.limiter.take(key, policy, min(analysis.cost.cost, policy.limit))
        if not decision.allowed:
            raise self._budget_spent(request, principal, analysis, decision)

    # --- the whole flow ----------------------------------------------------------------------

    def cache_key(self, principal: Principal, analysis: Analysis) -> str:
        """The document's key in the tier's view of the schema."""
        return f"{principal.tier.value}:{analysis.key}"

    async def serve(
        self,
        request: Request,
        *,
        principal_of: Callable[[Request], Awaitable[Principal]],
        parse_params: Callable[[Request], Awaitable[GraphQLRequestData]],
        run: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        """The response to one `/graphql` request."""
        if request.method not in ("GET", "POST") or (
            request.method == "GET"
            and "query" not in (query := query_params_of(request))
            and "extensions" not in query
        ):
            return await run(request)  # 405, GraphiQL: the view's business
        principal = await principal_of(request)
        decision: Decision | None = None
        try:
            try:
                params = await parse_params(request)
            except RequestError:
                decision = await self.admit(request, principal)  # a 429 comes first
                raise
            known = self.known(principal, params)
            if known is not None:  # the usual case: rate and cost budget in one call
                params, analysis = known
                decision = await self.admit(request, principal, charge=analysis)
                response = await self._respond(request, principal, params, analysis, run)
            else:
                decision = await self.admit(request, principal)
                response = await self._checked(request, principal, params, run)
        except RequestError as exc:
            if decision is not None:
                exc.headers = {**decision.headers(), **exc.headers}
            raise
        if decision is not None:
            # appended, not set: none of these is on the response yet, and setting scans them all
            response.raw_headers.extend(decision.raw_headers())
        return response

    async def _checked(
        self,
        request: Request,
        principal: Principal,
        params: GraphQLRequestData,
        run: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        """A request admitted by its rate, its document not yet known: each step in turn."""
        params = await self.resolve(request, principal, params)
        analysis = self.analyses.analyse(params)
        if analysis is None:  # unparsable: the view says why
            return await self._run(request, params, run)
        self.check_caps(request, principal, analysis)
        await self.charge(request, principal, analysis)
        return await self._respond(request, principal, params, analysis, run)

    async def _respond(
        self,
        request: Request,
        principal: Principal,
        params: GraphQLRequestData,
        analysis: Analysis,
        run: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        """The answer to an admitted, charged document: from the cache, or run (and kept)."""
        if not self.settings.cache_enabled or analysis.operation is not OperationType.QUERY:
            return await self._run(request, params, run)
        key = self.cache_key(principal, analysis)
        versions = await self.versions.current()
        entry = await self.cache.get(key)
        if entry is not None and DatasetVersions.fresh(versions, entry):
            self.stats.hits += 1
            # the audit record of a cached answer names what it was made of
            exchange_of(request).cached_datasets = entry.versions.keys() - {ALL_DATASETS}
            return self._answer(request, principal, entry, hit=True)
        self.stats.misses += 1
        response = await self._run(request, params, run)
        context = exchange_of(request).context
        if (
            response.status_code == 200
            and context is not None
            and not context.restricted_read
            and not context.denials
            and without_errors(body := bytes(response.body))
        ):
            entry = CachedResponse(
                body=body,
                etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
                versions=DatasetVersions.of(versions, context.datasets_read),
            )
            await self.cache.set(key, entry, ttl_s=self.settings.cache_ttl_s)
            self.stats.stored += 1
            return self._answer(request, principal, entry, hit=False)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _run(
        self,
        request: Request,
        params: GraphQLRequestData,
        run: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        token = PREPARED.set(params)
        try:
            return await run(request)
        finally:
            PREPARED.reset(token)

    def _answer(
        self, request: Request, principal: Principal, entry: CachedResponse, *, hit: bool
    ) -> Response:
        etag: str | None = None
        if request.method == "GET":
            visibility = "public" if principal.tier is Tier.ANONYMOUS else "private"
            cache_control = f"{visibility}, max-age={self.settings.cache_max_age_s}"
            etag = entry.etag
            if etag in etags(request.headers.get("if-none-match")):
                self.stats.not_modified += 1
                headers = answer_headers(cache_control, etag, hit, None)
                return PreparedResponse(b"", list(headers), status_code=304)
        else:
            cache_control = "no-store"  # POSTs are not cached by HTTP caches anyway
        media = negotiate(request.headers.get("accept"))
        headers = answer_headers(cache_control, etag, hit, media)
        return PreparedResponse(
            entry.body, [*headers, (b"content-length", b"%d" % len(entry.body))]
        )


def _who(principal: Principal) -> str | None:
    """Whose bucket, for a caller known by its token; None for an anonymous one."""
    # an app is its client; a person is themself, whichever frontend (client) they use
    if principal.client_id and (principal.tier is Tier.APP or not principal.subject):
        return f"client:{principal.client_id}"
    return f"subject:{principal.subject}" if principal.subject else None


def tier_name(principal: Principal) -> str:
    return principal.tier.value


class PersistedQueryNotFound(RequestError):
    """Apollo's signal to send the document with its hash."""

    def __init__(self, status: int) -> None:
        super().__init__(
            status,
            "PersistedQueryNotFound",
            "PERSISTED_QUERY_NOT_FOUND",
            headers={"Cache-Control": "private, no-cache, must-revalidate"},
        )


class CostRefused(RequestError):
    """A document over its tier's caps; the error says its value and the limit."""

    def __init__(self, status: int, message: str, code: str, *, value: int, limit: int) -> None:
        super().__init__(status, message, code)
        self.value = value
        self.limit = limit
