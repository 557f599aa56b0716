#!/usr/bin/env python3
"""The table of scripts/bench.sh: reads the run's JSON summaries, prints a Markdown table
with the ratios and the targets of the issue, and (given a path) puts it into BENCHMARKS.md
between the markers `<!-- bench:begin -->` and `<!-- bench:end -->`.

Usage: table.py <run folder> <quick 0|1> [BENCHMARKS.md]
"""

import datetime
import json
import os
import platform
import subprocess
import sys

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


# The gateway's runs on each store: (name before "-<store>", what it measures, short form).
GATEWAY_RUNS = [
    ("full", "full path, iWmo, status loop, closed loop", "full path, closed loop"),
    ("intake", "intake alone (202 after the commit), closed loop", "intake alone, closed loop"),
    ("open", "all formats, 1,000/s offered (open loop), status loop", "1,000/s offered"),
    ("full-large", "full path, iWmo, status loop, large store", "full path, large store"),
]


def load(folder, name):
    path = os.path.join(folder, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def machine():
    cpus = os.cpu_count()
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    return f"{cpus} cores ({model or platform.machine()}), {mem:.0f} GiB of memory"


def usage(u):
    if not u:
        return "–", "–"
    return fmt(u.get("peak_rss_mib")), fmt(u.get("cpu_cores"), 2)


def load_of(s):
    return fmt(s.get("load_average_before"), 1) + " / " + fmt(s.get("load_average_after"), 1)


def gateway_row(s, what):
    rss, cpu = usage(s.get("gateway"))
    thru = s.get("full_path_per_s") if s.get("status_loop") else s.get("accepted_per_s")
    i, d = s["intake"], s["submission_to_delivery"]
    delivery = "–" if s.get("intake_only") else f"{fmt(d['p50_ms'], 1)} / {fmt(d['p99_ms'], 1)} / {fmt(d['max_ms'], 0)}"
    return (
        f"| wijkbrug, {s['store']} | {what} | {fmt(s.get('referrals_in_store_before'))} | {fmt(thru)} "
        f"| {fmt(i['p50_ms'], 1)} / {fmt(i['p99_ms'], 1)} / {fmt(i['max_ms'], 0)} | {delivery} "
        f"| {s['errors'] + s.get('status_errors', 0)} | {rss} | {cpu} | {load_of(s)} |"
    )


def peer_row(s, what):
    rss, cpu = usage(s.get("peer"))
    l = s["latency"]
    return (
        f"| {s['label']} | {what} | – | {fmt(s['ok_per_s'])} "
        f"| {fmt(l['p50_ms'], 1)} / {fmt(l['p99_ms'], 1)} / {fmt(l['max_ms'], 0)} | (in the round trip) "
        f"| {s['errors']} | {rss} | {cpu} | {load_of(s)} |"
    )


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def verdict(ok):
    if ok is None:
        return "not measured"
    return "met" if ok else "**missed**"


def table(folder, quick):
    runs = {n: load(folder, n) for n in [
        "full-sqlite", "intake-sqlite", "open-sqlite", "full-large-sqlite",
        "full-postgres", "intake-postgres", "open-postgres", "full-large-postgres",
        "node-red", "nginx", "disk"]}
    loads = [r.get("load_average_before") for r in runs.values() if r]
    busy = any(l is not None and l > 2.5 for l in loads)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    lines.append(f"Measured {now} on {machine()}{' with `--quick`' if quick else ''}"
                 f"{'. **Load averages above 2.5** (in the table): they include the benchmark’s own processes (gateway, load generator, PostgreSQL, peers), so on 2 cores they do not by themselves show other work; if other work did run, these figures are lower bounds' if busy else ''}.")
    lines.append("")
    lines.append("| system | what | referrals in store | referrals/s | intake (round trip) p50 / p99 / max ms | submission to delivery p50 / p99 / max ms | errors | peak RSS MiB | CPU cores | load before / after |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for store in ["sqlite", "postgres"]:
        for run, what, _ in GATEWAY_RUNS:
            name = f"{run}-{store}"
            if runs[name]:
                lines.append(gateway_row(runs[name], what))
    if runs["node-red"]:
        lines.append(peer_row(runs["node-red"], "parse iWmo XML, map to JSON, forward"))
    if runs["nginx"]:
        lines.append(peer_row(runs["nginx"], "proxy_pass of the same request"))
    lines.append("")
    # A run that also delivered referrals an earlier run left in its store measured more work
    # than its row says.
    inherited = [
        f"{name} delivered {fmt(r['other_deliveries'])} referrals of an earlier run besides its own"
        for name, r in sorted(runs.items())
        if r and r.get("other_deliveries")
    ]
    if inherited:
        lines.append("**Not comparable:** " + "; ".join(inherited) + ".")
        lines.append("")
    disk = runs["disk"]
    if disk:
        sync = disk["sync"]
        lines.append(f"The disk under the store, idle, before the runs: an append of {fmt(disk['bytes_per_append'])} bytes made durable "
                     f"(`fdatasync`, as a commit does) took p50 {fmt(sync['p50_ms'], 2)} / p99 {fmt(sync['p99_ms'], 2)} / "
                     f"max {fmt(sync['max_ms'], 1)} ms ({fmt(disk['appends'])} times): no durable intake is answered faster.")
        lines.append("")
    def at_most(ms):
        # The p99 is known to a bucket of the gateway's histogram: its upper bound.
        return "–" if ms is None else f"≤ {fmt(ms, 1)}"

    writer_rows = []
    for store in ["sqlite", "postgres"]:
        for run, _, what in GATEWAY_RUNS:
            w = (runs.get(f"{run}-{store}") or {}).get("store_writer")
            if w:
                writer_rows.append(
                    f"| {store} | {what} | {fmt(w['busy'] * 100)}% | {fmt(w['commits_per_s'])} "
                    f"| {fmt(w.get('writes_per_commit'), 1)} | {fmt(w.get('commit_ms'), 2)} | {fmt(w.get('batch_ms'), 2)} "
                    f"| {at_most(w.get('batch_p99_at_most_ms'))} |")
    if writer_rows:
        lines.append("The store's single writer in each run (`wijkbrug_store_*` in `/metrics`, read at the start and the end; "
                     "busy near 100% means writes queue for it):")
        lines.append("")
        lines.append("| store | run | writer busy | commits/s | writes a commit | commit ms (mean) | batch ms (mean, commit included) | batch p99 ms |")
        lines.append("|---|---|---|---|---|---|---|---|")
        lines.extend(writer_rows)
        lines.append("")

    def thru(name):
        r = runs.get(name)
        if not r:
            return None
        return r.get("full_path_per_s") if r.get("status_loop") else r.get("accepted_per_s")

    nr = runs["node-red"]["ok_per_s"] if runs["node-red"] else None
    ng = runs["nginx"]["ok_per_s"] if runs["nginx"] else None
    targets = []
    for store, want in [("sqlite", 5.0), ("postgres", 2.0)]:
        r = ratio(thru(f"full-{store}"), nr)
        targets.append((f"full path on {store} / Node-RED ≥ {want:g}", fmt(r, 2), verdict(None if r is None else r >= want)))
    for store in ["sqlite", "postgres"]:
        r = ratio(thru(f"intake-{store}"), ng)
        targets.append((f"intake alone on {store} / nginx ≥ 0.3", fmt(r, 2), verdict(None if r is None else r >= 0.3)))
    for store in ["sqlite", "postgres"]:
        o = runs.get(f"open-{store}")
        if o:
            offered = o["load"].get("rate")
            reached = o["accepted_per_s"] >= 0.95 * offered if offered else None
            ip99, dp99 = o["intake"]["p99_ms"], o["submission_to_delivery"]["p99_ms"]
            targets.append((f"{store}, {fmt(offered)}/s offered: taken ({fmt(o['accepted_per_s'])}/s)", "", verdict(reached)))
            targets.append((f"{store}, {fmt(offered)}/s offered: intake p99 < 10 ms", fmt(ip99, 1), verdict(ip99 < 10)))
            targets.append((f"{store}, {fmt(offered)}/s offered: submission-to-delivery p99 < 50 ms", fmt(dp99, 1), verdict(dp99 < 50)))
    rss = [r["gateway"]["peak_rss_mib"] for n, r in runs.items() if r and n not in ("node-red", "nginx") and r.get("gateway") and r["gateway"].get("peak_rss_mib")]
    if rss:
        targets.append(("gateway peak RSS < 100 MiB (every run)", fmt(max(rss)), verdict(max(rss) < 100)))
    for store in ["sqlite", "postgres"]:
        small, large = thru(f"full-{store}"), thru(f"full-large-{store}")
        r = ratio(large, small)
        if r is not None:
            n = runs[f"full-large-{store}"]["referrals_in_store_before"]
            targets.append((f"{store}: throughput at {fmt(n)} stored within 20% of that at 10,000", fmt(r, 2), verdict(r >= 0.8)))
        d = (runs.get(f"full-large-{store}") or {}).get("dashboard")
        if d:
            worst = max(d["overview"]["p99_ms"], d["list_newest"]["p99_ms"], d["list_by_status"]["p99_ms"])
            targets.append((f"{store}: dashboard queries p99 < 50 ms at {fmt(d['referrals_in_store'])}", fmt(worst, 1), verdict(worst < 50)))
    lines.append("| target | measured | |")
    lines.append("|---|---|---|")
    for t in targets:
        lines.append(f"| {t[0]} | {t[1]} | {t[2]} |")
    lines.append("")
    lines.append("Dashboard queries (through `Store`, 200 times each after the run; p50 / p99 ms):")
    lines.append("")
    lines.append("| store | referrals | overview | list, newest 50 | list, one status |")
    lines.append("|---|---|---|---|---|")
    for name in ["full-sqlite", "full-large-sqlite", "full-postgres", "full-large-postgres"]:
        r = runs.get(name)
        d = r.get("dashboard") if r else None
        if r and not d and r.get("dashboard_unavailable"):
            lines.append(f"| {r['store']} | {fmt(r.get('referrals_in_store_before'))} | not available: {r['dashboard_unavailable']} | | |")
        if d:
            cell = lambda x: f"{fmt(x['p50_ms'], 2)} / {fmt(x['p99_ms'], 2)}"
            lines.append(f"| {r['store']} | {fmt(d['referrals_in_store'])} | {cell(d['overview'])} | {cell(d['list_newest'])} | {cell(d['list_by_status'])} |")
    return "\n".join(lines)


def main():
    folder, quick = sys.argv[1], sys.argv[2] == "1"
    text = table(folder, quick)
    print(text)
    if len(sys.argv) > 3 and sys.argv[3]:
        path = sys.argv[3]
        with open(path) as f:
            doc = f.read()
        if BEGIN not in doc or END not in doc:
            print(f"{path} has no {BEGIN} … {END} markers; not written", file=sys.stderr)
            return
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(path, "w") as f:
            f.write(head + BEGIN + "\n" + text + "\n" + END + tail)


if __name__ == "__main__":
    main()
