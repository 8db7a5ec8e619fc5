"""The `gitops-check` command line.

Exit codes: 0 clean, 1 violations (error severity) found, 2 bad input, usage or an unusable tool.
Errors are one line on stderr, never a traceback (set GITOPS_CHECK_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import InputError

EPILOG = "Exit codes: 0 clean, 1 violations found, 2 bad input or usage."


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gitops-check", description="Render and validate the GitOps repository.", epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"gitops-check {__version__}")
    p.add_argument("--repo", metavar="PATH",
                   help="the repository under check (default: the nearest folder at or above the working directory "
                        "whose pyproject.toml has [tool.gitops-check])")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="print the rendered YAML of one overlay (kustomize build)", epilog=EPILOG)
    r.add_argument("overlay", metavar="OVERLAY_DIR")

    v = sub.add_parser("validate", help="validate overlays and/or manifest files (default: every overlay)", epilog=EPILOG)
    v.add_argument("paths", nargs="*", metavar="PATH", help="overlay directory, manifest file or folder of manifests")
    v.add_argument("--format", choices=("text", "json", "junit", "sarif"), default="text")
    v.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    v.add_argument("--waivers", metavar="FILE", help="waivers file (default: waivers.yaml of the repository)")
    v.add_argument("--offline", action="store_true",
                   help="skip the server stage (no local kube-apiserver): kubeconform judges the schemas instead")
    v.add_argument("--changed", metavar="REF",
                   help="only the targets whose inputs changed between REF and the working tree (when no PATH is given)")
    v.add_argument("--shard", metavar="K/N",
                   help="only shard K of N: a stable partition of the targets (by a hash of each path), for CI runners")
    v.add_argument("--no-cache", action="store_true",
                   help="check every target afresh: neither read nor write the result cache (see docs/performance.md)")

    m = sub.add_parser("merge", help="combine JSON reports of validate (e.g. one per --shard) into one report", epilog=EPILOG)
    m.add_argument("reports", nargs="+", metavar="REPORT.json", help="a report of `validate --format json`")
    m.add_argument("--format", choices=("text", "json", "junit", "sarif"), default="text")
    m.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")

    d = sub.add_parser("diff", help="the rendered change of every affected target between two git refs, object by object",
                       epilog="Exit codes: 0 no error finding (a target that does not render is shown), 1 an error finding "
                              "(WH-DIFF-001: a production Rollout, Deployment, or a Service, HPA, PDB, Ingress or VirtualService it depends on, "
                              "removed or renamed), 2 bad input (a ref that names no commit).")
    d.add_argument("--base", metavar="REF", default="origin/main", help="the base ref (default: origin/main)")
    d.add_argument("--head", metavar="REF", help="the head ref (default: the working tree as it is)")
    d.add_argument("--format", choices=("text", "markdown"), default="text")

    sub.add_parser("prepare", help="prepare the caches make tools fills: schemas, and the control plane's seed with the locked CRDs")

    c = sub.add_parser("cluster", help="keep a local control plane running between runs (validate uses it when up)",
                       epilog="Exit codes: 0 done (status: up), 1 status: down, 2 error.")
    c.add_argument("action", choices=("up", "down", "status"))

    pl = sub.add_parser("plan", help="the timeline of each Rollout of an overlay: steps, worst cases, analysis coverage",
                        epilog="Exit codes: 0 within the budget and every canary weight guarded, 1 not, 2 bad input.")
    pl.add_argument("overlay", metavar="OVERLAY_DIR")
    pl.add_argument("--format", choices=("text", "json"), default="text")
    pl.add_argument("--svg", metavar="FILE", help="also write a chart of the weight over time (first Rollout) to FILE")

    ru = sub.add_parser("rules", help="print the table of every rule (markdown, as docs/policies.md)")
    ru.add_argument("--output", metavar="FILE")
    return p


def _write(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{output}: cannot write report: {exc.strerror}") from None
    else:
        sys.stdout.write(text)


def _report(result, fmt: str, output: str | None, settings) -> int:
    from . import report, ruletable

    if fmt == "text":
        out = report.text(result)
    elif fmt == "json":
        out = report.as_json(result)
    elif fmt == "junit":
        out = report.junit(result)
    else:
        out = report.sarif(result, ruletable.rows(settings), ruletable.docs_url(settings), settings.repo_root)
    _write(out, output)
    if output and fmt != "text":
        sys.stderr.write(report.text(result).splitlines()[-1] + "\n")
    return result.exit_code


def _validate(args: argparse.Namespace, settings) -> int:
    from . import pipeline

    shard = pipeline.parse_shard(args.shard) if args.shard else None
    waivers_file = Path(args.waivers) if args.waivers else None
    if waivers_file and not waivers_file.exists():
        raise InputError(f"{args.waivers}: no such file or directory")
    if args.offline:
        settings = dataclasses.replace(settings, offline=True)
    if args.changed and not args.paths:
        from . import gitdiff

        args.paths = [str(t) for t in gitdiff.affected(settings.repo_root, args.changed, None, settings)]
        if not args.paths:
            print(f"gitops-check: nothing to check: no target is affected by the changes since {args.changed}",
                  file=sys.stdout if args.format == "text" and not args.output else sys.stderr)
            return 0
    if shard:
        targets = pipeline.select_shard(pipeline.resolve_targets(args.paths, settings), *shard)
        if not targets:
            print(f"gitops-check: nothing in shard {shard[0]}/{shard[1]}",
                  file=sys.stdout if args.format == "text" and not args.output else sys.stderr)
            return 0
        args.paths = [str(path) for path, _, _ in targets]
    from . import resultcache

    result = pipeline.run(args.paths, settings, waivers_file=waivers_file,
                          cache=resultcache.enabled() and not args.no_cache, cache_root=resultcache.root_from_env())
    return _report(result, args.format, args.output, settings)


def _merge(args: argparse.Namespace, settings) -> int:
    from . import merge

    return _report(merge.merge([Path(r) for r in args.reports]), args.format, args.output, settings)


def _plan(args: argparse.Namespace, settings) -> int:
    from . import plan

    report = plan.build(args.overlay, settings)
    sys.stdout.write(plan.text(report) if args.format == "text" else plan.as_json(report))
    if args.svg and report.plans:
        _write(plan.svg(report.plans[0], report.budget), args.svg)
    return 1 if report.problems else 0


def _cluster(action: str, settings) -> int:
    from . import controlplane

    if action == "up":
        cp = controlplane.up(settings)
        print(f"control plane up: kube-apiserver {settings.tools['kubernetes'].version} at {cp.url} (state in {cp.dir})")
        return 0
    if action == "down":
        print("control plane stopped" if controlplane.down(settings) else "no control plane was up")
        return 0
    cp = controlplane.running(settings)
    print(f"up: {cp.url} (state in {cp.dir})" if cp else "down")
    return 0 if cp else 1


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every `finally` runs (and stops what the run started)."""


_SIGNALLED: list[int] = []  # the signals that ended this run: a tool error they cause is not the run's verdict


def _terminate(signum, frame):
    _SIGNALLED.append(signum)
    raise Terminated()


def _interrupt(signum, frame):
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt()


def _signalled_code() -> int | None:
    """130 or 143 when SIGINT or SIGTERM ended the run (whatever error the interrupted work raised then)."""
    if not _SIGNALLED:
        return None
    return 130 if _SIGNALLED[0] == signal.SIGINT else 143


def _leave(code: int, argv: list[str] | None) -> int:
    """An interrupted run ends now. The interpreter joins every worker thread before it exits, and a stage's thread
    still computing would keep it alive after Ctrl-C or SIGTERM (its tools and control plane are stopped already).
    Only as the program (no ARGV): a caller's process, a test's, is its own to end."""
    if argv is None and threading.active_count() > 1:
        from . import runner

        runner.remove_homes()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if argv is None:  # the program: an interrupted run leaves at once (see _leave)
        from . import runner

        runner.LEAVING_ON_INTERRUPT = True
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    try:
        from . import settings as settings_mod

        settings = settings_mod.load(Path(args.repo) if args.repo else None)
        if args.command == "render":
            from . import render

            sys.stdout.write(render.build(Path(args.overlay), args.overlay, settings))
            return 0
        if args.command == "rules":
            from . import ruletable

            _write(ruletable.markdown(settings), args.output)
            return 0
        if args.command == "diff":
            from . import gitdiff

            diffs = gitdiff.diff(settings.repo_root, args.base, args.head, settings)
            show = gitdiff.markdown if args.format == "markdown" else gitdiff.text
            sys.stdout.write(show(diffs, args.base, args.head))
            return gitdiff.exit_code(diffs)  # 1: WH-DIFF-001 (the diff is printed all the same)
        if args.command == "plan":
            return _plan(args, settings)
        if args.command == "merge":
            return _merge(args, settings)
        if args.command == "cluster":
            return _cluster(args.action, settings)
        if args.command == "prepare":
            from . import controlplane, schemas

            schemas.prepare(settings, repair=True)  # a damaged cache entry is rebuilt here (make tools)
            if settings.flagd_schema:
                from .schemas import flagd

                print(f"flagd schema: {flagd.prepare(settings, repair=True)}")  # npm pack of the pinned tarball
            print(f"control plane seed: {controlplane.prepare_seed(settings)}")
            return 0
        return _validate(args, settings)
    except InputError as exc:
        if _signalled_code():  # a tool killed because the run was interrupted
            return _leave(_signalled_code(), argv)
        from .report import escape  # the message may carry file names and tool output: one visible line

        print(f"gitops-check: error: {escape(exc)}", file=sys.stderr)
        if args.command in ("validate", "merge") and args.format == "json" and not args.output:
            sys.stdout.write(json.dumps({"error": str(exc)}).replace("##[", "##\\u005b") + "\n")  # scripts reading stdout get JSON too
        return 2
    except KeyboardInterrupt:
        return _leave(130, argv)
    except Terminated:
        return _leave(143, argv)
    except Exception as exc:  # a bug in the harness: one line, and the traceback on request
        if _signalled_code():
            return _leave(_signalled_code(), argv)
        if os.environ.get("GITOPS_CHECK_DEBUG"):
            raise
        from .report import escape

        print(f"gitops-check: internal error: {type(exc).__name__}: {escape(exc)} (rerun with GITOPS_CHECK_DEBUG=1 for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
