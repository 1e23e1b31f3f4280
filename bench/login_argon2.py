"""Benchmark signing in: argon2id verification with the platform's parameters.

Target (DESIGN.md, 2 cores): verifying a password <= 25 ms (p95), with the
tuned parameters of ``Settings`` (argon2_time_cost, argon2_memory_kib,
argon2_parallelism), not argon2-cffi's 64 MiB default.

Baseline in the same run: the same work minus the thing measured. The same
``verify_password`` call with a trivially cheap argon2id (t=1, m=8 KiB, p=1:
the smallest argon2 allows), and the same ``POST /login`` round trip through
the Flask test client against an app configured with that cheap hasher; the
difference is what argon2 costs a login. The two are timed in interleaved
rounds (``--rounds``), so a busy moment on the shared machine falls on both.

Noise: the target is called met only when the p95's 95 % bootstrap confidence
interval, widened to the spread of the rounds' own p95s, lies wholly under it;
missed only when wholly over it; otherwise "within the noise" (null).

For context, argon2-cffi's library default and OWASP's other argon2id
configurations of equal strength are timed too (fewer samples, no verdict).

    python bench/login_argon2.py                 # 5 rounds of 100 verifications and 20 logins

Only the core is loaded (no plugins), on temporary SQLite files. The login
rate limit is lifted for the run, so every sign-in reaches the password check.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from importlib.metadata import version

from argon2 import PasswordHasher

from hubcore.app import create_app
from hubcore.config import Settings
from hubcore.db import db
from hubcore.identity import accounts, passwords
from measure import percentile, percentile_ci, summarise_ms, verdict, write_result

NAME = "login_argon2"
# OWASP's argon2id configurations of equal strength (memory KiB, passes; one lane),
# timed too: which of them the platform could choose to meet the target.
OWASP_EQUIVALENTS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
TARGET_VERIFY_MS = 25.0
# The baseline's hasher: argon2id at the smallest cost argon2 accepts (8 KiB per lane).
CHEAP = {"time_cost": 1, "memory_kib": 8, "parallelism": 1}
EMAIL = "bench.coordinator@example.org"
PASSWORD = "a long and unremarkable passphrase"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds of the platform and the baseline (default 5)")
    parser.add_argument("--verifications", type=int, default=100,
                        help="verifications timed per round with each hasher (default 100)")
    parser.add_argument("--logins", type=int, default=20,
                        help="POST /login round trips timed per round with each app "
                             "(default 20)")
    parser.add_argument("--context-verifications", type=int, default=20,
                        help="verifications timed with each context hasher (library "
                             "default, OWASP equivalents; default 20)")
    parser.add_argument("--output", help="result file (default bench/results/login_argon2.json)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.verifications, args.logins, args.context_verifications) < 1:
        parser.error("--rounds, --verifications, --logins and --context-verifications "
                     "must be positive")
    return args


def time_verifications(hasher: PasswordHasher, stored: str, count: int) -> list[float]:
    """Seconds for each of ``count`` correct-password verifications (one warm-up first)."""
    if not passwords.verify_password(hasher, stored, PASSWORD):
        raise SystemExit("the stored hash does not verify: the benchmark is broken")
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        ok = passwords.verify_password(hasher, stored, PASSWORD)
        samples.append(time.perf_counter() - began)
        assert ok
    return samples


def time_logins(app, count: int) -> list[float]:
    """Seconds for each ``POST /login`` with a good password, from a fresh browser."""
    samples = []
    for _ in range(count + 1):  # the first one warms templates and caches
        client = app.test_client()
        page = client.get("/login")
        match = CSRF.search(page.get_data(as_text=True))
        if page.status_code != 200 or not match:
            raise SystemExit(f"GET /login answered {page.status_code} without a CSRF token")
        form = {"email": EMAIL, "password": PASSWORD, "csrf_token": match.group(1)}
        began = time.perf_counter()
        response = client.post("/login", data=form)
        elapsed = time.perf_counter() - began
        if response.status_code != 302:
            raise SystemExit(f"POST /login answered {response.status_code}, not a redirect")
        samples.append(elapsed)
    return samples[1:]


def parameters_of(hasher: PasswordHasher) -> dict:
    return {"time_cost": hasher.time_cost, "memory_kib": hasher.memory_cost,
            "parallelism": hasher.parallelism, "type": hasher.type.name.lower()}


def make_app(folder: str, name: str, **argon2) -> tuple:
    """An app on its own SQLite file with one account; its hasher and stored hash."""
    settings = Settings(env="testing", database_url=f"sqlite:///{folder}/{name}.sqlite3",
                        plugins=(), login_rate_limit="1000000 per minute",
                        **{f"argon2_{key}": value for key, value in argon2.items()})
    app = create_app(settings)
    with app.app_context():
        from hubcore import schema_migrations

        schema_migrations.upgrade()
        account = accounts.create_account(email=EMAIL, name="Bench Coordinator",
                                          password=PASSWORD)
        db.session.commit()
        stored = account.password_hash
        db.session.remove()
    return app, passwords.hasher_for(settings), stored


def noise_band(samples: list[float], rounds: list[list[float]], pct: float = 95) -> dict:
    """The pct-th percentile of all samples, its bootstrap 95 % interval, and the same
    percentile of each round: the band within which a target cannot be called."""
    ms = [s * 1000 for s in samples]
    low, high = percentile_ci(ms, pct)
    per_round = [round(percentile([s * 1000 for s in r], pct), 3) for r in rounds]
    return {"p95_ci95_ms": [round(low, 3), round(high, 3)], "p95_per_round_ms": per_round,
            "band_ms": [round(min(low, *per_round), 3), round(max(high, *per_round), 3)]}


def interleaved(rounds: int, runs: dict) -> dict[str, list[list[float]]]:
    """Each run once per round, the order alternating: {name: [round's samples, ...]}."""
    names = list(runs)
    found: dict[str, list[list[float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            found[name].append(runs[name]())
    return found


def run(args) -> dict:
    folder = tempfile.mkdtemp(prefix="hubcore-bench-login-")
    try:
        defaults = Settings()
        platform_app, platform, stored = make_app(
            folder, "platform", time_cost=defaults.argon2_time_cost,
            memory_kib=defaults.argon2_memory_kib, parallelism=defaults.argon2_parallelism)
        cheap_app, cheap, cheap_stored = make_app(folder, "cheap", **CHEAP)
        return measure_all(args, platform_app, platform, stored, cheap_app, cheap, cheap_stored)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_all(args, platform_app, platform, stored, cheap_app, cheap, cheap_stored) -> dict:
    print(f"login_argon2: {args.rounds} rounds of {args.verifications} verifications and "
          f"{args.logins} logins with each hasher", flush=True)
    verify_rounds = interleaved(args.rounds, {
        "platform": lambda: time_verifications(platform, stored, args.verifications),
        "baseline": lambda: time_verifications(cheap, cheap_stored, args.verifications)})

    def logins(app):
        with app.app_context():
            return time_logins(app, args.logins)

    login_rounds = interleaved(args.rounds, {"platform": lambda: logins(platform_app),
                                             "baseline": lambda: logins(cheap_app)})
    verify = {}
    for name, hasher in (("platform", platform), ("baseline", cheap)):
        samples = [s for r in verify_rounds[name] for s in r]
        verify[name] = {"hasher": parameters_of(hasher), **summarise_ms(samples),
                        **noise_band(samples, verify_rounds[name])}
    login = {}
    for name in ("platform", "baseline"):
        samples = [s for r in login_rounds[name] for s in r]
        login[name] = {**summarise_ms(samples), **noise_band(samples, login_rounds[name])}
    verify["argon2_p50_ms"] = round(verify["platform"]["p50_ms"] - verify["baseline"]["p50_ms"], 3)
    login["argon2_share_p50_ms"] = round(login["platform"]["p50_ms"]
                                         - login["baseline"]["p50_ms"], 3)
    low, high = verify["platform"]["band_ms"]
    met = verdict(low, high, TARGET_VERIFY_MS)
    for name in ("platform", "baseline"):
        v = verify[name]
        print(f"  verify, {name} {v['hasher']}: p50 {v['p50_ms']:.2f} ms, p95 {v['p95_ms']:.2f}"
              f" ms (95 % CI {v['p95_ci95_ms'][0]:.2f}-{v['p95_ci95_ms'][1]:.2f}; rounds "
              f"{', '.join(f'{p:.1f}' for p in v['p95_per_round_ms'])})", flush=True)
    for name in ("platform", "baseline"):
        v = login[name]
        print(f"  POST /login, {name}: p50 {v['p50_ms']:.2f} ms, p95 {v['p95_ms']:.2f} ms",
              flush=True)
    print(f"  argon2's part: {verify['argon2_p50_ms']:.2f} ms of a verification, "
          f"{login['argon2_share_p50_ms']:.2f} ms of a login (p50)", flush=True)

    context = []
    library_default = PasswordHasher()
    for hasher in [library_default] + [
            PasswordHasher(time_cost=t, memory_cost=m, parallelism=1)
            for m, t in OWASP_EQUIVALENTS]:
        stats = summarise_ms(time_verifications(hasher, hasher.hash(PASSWORD),
                                                args.context_verifications))
        context.append({"hasher": parameters_of(hasher),
                        "library_default": hasher is library_default, **stats})
        print(f"    context m={hasher.memory_cost // 1024} MiB, t={hasher.time_cost}, "
              f"p={hasher.parallelism}: p50 {stats['p50_ms']:.1f} ms, "
              f"p95 {stats['p95_ms']:.1f} ms", flush=True)
    return {
        "database": {"dialect": "sqlite"},
        "parameters": {"rounds": args.rounds, "verifications": args.verifications,
                       "logins": args.logins,
                       "context_verifications": args.context_verifications,
                       "argon2_cffi": version("argon2-cffi")},
        "targets": {"verify_p95_ms": TARGET_VERIFY_MS},
        "verify": verify,
        "login_round_trip": login,
        "context": context,
        # True: the whole noise band is under the target; False: over it; None: the
        # target lies within the noise, so the run cannot say.
        "meets_targets": {"verify": met},
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    result = run(args)
    path = write_result(NAME, result, args.output)
    met = result["meets_targets"]["verify"]
    low, high = result["verify"]["platform"]["band_ms"]
    word = {True: "met", False: "MISSED", None: "within the noise (cannot be called)"}[met]
    print(f"target: verification p95 <= {TARGET_VERIFY_MS:.0f} ms {word} (noise band "
          f"{low:.2f}-{high:.2f} ms); written to {path}")


if __name__ == "__main__":
    main()
