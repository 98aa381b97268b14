#!/usr/bin/python3
"""Runs renkei-bench --quick --out F and checks that it ran and that F is
well-formed JSON holding every figure (a number, or an explicit reason it
was skipped) and every ratio.  No timing is asserted."""
import json
import math
import os
import subprocess
import sys

SYSTEMS = ("hub", "bare", "mosquitto")
FIGURES = (
    [f"{s}_msgs_per_s_{p}" for s in SYSTEMS for p in (512, 2048)]
    + [f"{s}_cpu_us_per_msg_{p}" for s in SYSTEMS for p in (512, 2048)]
    + [f"{s}_client_cpu_us_per_msg_{p}" for s in SYSTEMS for p in (512, 2048)]
    + [f"{s}_{h}latency_{q}_us" for s in ("hub", "bare", "agents") for h in ("", "heavy_")
       for q in ("p50", "p99", "p999")]
    + ["agents_moves_per_s", "agents_move_replies_per_s"]
    + ["webhook_deliveries_per_s", "library_deliveries_per_s"]
    + [f"{s}_{w}_kib_per_msg_{p}" for s in SYSTEMS for w in ("wchar", "write_bytes")
       for p in (512, 2048)]
    + [f"disk_{k}_fdatasync_{q}_us" for k in ("4k", "32pages") for q in ("p50", "p99")]
    + ["disk_durable_rr_floor_p50_us"]
)
RATIOS = ("hub_over_bare_512", "hub_over_bare_2048", "hub_over_mosquitto_512",
          "hub_over_mosquitto_2048", "hub_over_bare_latency_p50", "hub_over_bare_latency_p99",
          "hub_over_bare_heavy_latency_p99", "scale_largest_over_smallest",
          "agents_over_bare_latency_p99", "agents_over_hub_latency_p99",
          "agents_over_hub_heavy_latency_p99", "hub_over_disk_floor_latency_p50", "webhook_vs_library")
# Mosquitto may be absent (not installed, or built without libmosquitto);
# then its figures must say why instead of holding a number.
MAY_SKIP = ("mosquitto",)
# write_bytes (/proc/PID/io) is absent or stays 0 where the kernel does not
# count block-device writes (some containers): then a reason instead.
MAY_SKIP_PART = ("_write_bytes_",)


def fail(msg):
    print(f"bench_quick: {msg}", file=sys.stderr)
    sys.exit(1)


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def main():
    exe = os.environ["RENKEI_BENCH"]
    out = os.environ["RENKEI_BENCH_JSON"]
    if os.path.exists(out):
        os.unlink(out)
    run = subprocess.run([exe, "--quick", "--out", out], capture_output=True, text=True,
                         timeout=110)
    if run.returncode != 0:
        fail(f"renkei-bench --quick exited {run.returncode}:\n{run.stderr}\n{run.stdout}")
    if "not measured yet:" not in run.stdout or "ratio (throughput" not in run.stdout:
        fail(f"the table is missing its sections:\n{run.stdout}")
    try:
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{out} is not readable JSON: {e}")
    figs = doc.get("figures", {})
    skipped = []
    for key in FIGURES:
        fig = figs.get(key)
        if not isinstance(fig, dict):
            fail(f"figure {key} is missing from the JSON")
        if fig.get("median") is None:
            may = key.startswith(MAY_SKIP) or any(part in key for part in MAY_SKIP_PART)
            if not may or not fig.get("skipped"):
                fail(f"figure {key} has no value and no reason: {fig}")
            skipped.append(key)
            continue
        for k in ("median", "min", "max"):
            if not number(fig.get(k)):
                fail(f"figure {key}: {k} is not a number: {fig}")
        if not fig["min"] <= fig["median"] <= fig["max"]:
            fail(f"figure {key}: median outside [min, max]: {fig}")
        if ("msgs_per_s" in key or key.startswith("agents_mov")) and fig["min"] <= 0:
            fail(f"figure {key}: nothing went through: {fig}")
        if "latency" in key and fig["min"] <= 0:
            fail(f"figure {key}: a round trip cannot take no time: {fig}")
    # A complete move brings four replies (three utilities, the destination).
    moves, replies = figs["agents_moves_per_s"], figs["agents_move_replies_per_s"]
    if moves.get("median") is not None and replies.get("median") is not None:
        if not math.isclose(replies["median"], 4 * moves["median"], rel_tol=1e-6):
            fail(f"replies/s is not four times moves/s: {moves} {replies}")
    # Every message the hub accepts is committed to disk, so it writes.
    for p in (512, 2048):
        if figs[f"hub_wchar_kib_per_msg_{p}"]["min"] <= 0:
            fail(f"the hub wrote nothing per message at {p} B: {figs[f'hub_wchar_kib_per_msg_{p}']}")
    # The disk floor: a flush takes time, p99 is not below p50, and the
    # floor is twice each p50, repetition by repetition, so it lies within
    # twice the sums of their minimums and maximums.
    d = {f"{k}_{q}": figs[f"disk_{k}_fdatasync_{q}_us"] for k in ("4k", "32pages")
         for q in ("p50", "p99")}
    for k, fig in d.items():
        if fig["min"] <= 0:
            fail(f"disk figure {k}: a write and flush cannot take no time: {fig}")
    for k in ("4k", "32pages"):
        if d[f"{k}_p99"]["median"] < d[f"{k}_p50"]["median"]:
            fail(f"disk figure {k}: p99 below p50: {d[f'{k}_p99']} {d[f'{k}_p50']}")
    floor = figs["disk_durable_rr_floor_p50_us"]
    lo = 2 * (d["4k_p50"]["min"] + d["32pages_p50"]["min"])
    hi = 2 * (d["4k_p50"]["max"] + d["32pages_p50"]["max"])
    if not lo * (1 - 1e-9) <= floor["min"] <= floor["max"] <= hi * (1 + 1e-9):
        fail(f"the durable request/reply floor is not 2 x 32 pages + 2 x 4 KiB: {floor} {d}")
    # The ID-code table sizes: every size (two in --quick) has its
    # throughput, loading rate and disk use; the largest its memory.
    for prefix in ("scale_msgs_per_s_", "scale_load_persons_per_s_",
                   "scale_disk_bytes_per_person_", "scale_used_bytes_per_person_"):
        sizes = [k for k in figs if k.startswith(prefix)]
        if len(sizes) < 2:
            fail(f"expected two table sizes for {prefix}*, got {sizes}")
        for key in sizes:
            fig = figs[key]
            if not number(fig.get("median")) or fig["median"] <= 0:
                fail(f"figure {key} is not a positive number: {fig}")
    if not [k for k in figs if k.startswith("scale_rss_bytes_per_person_")]:
        fail("the hub's resident memory per person is missing")
    for key in ("hub_enroll_per_s", "hub_first_contact_per_s"):
        fig = figs.get(key)
        if not isinstance(fig, dict) or not number(fig.get("median")) or fig["median"] <= 0:
            fail(f"figure {key} is missing or not a positive number: {fig}")
    ratios = doc.get("ratios", {})
    for key in RATIOS:
        rat = ratios.get(key)
        if not isinstance(rat, dict) or "median" not in rat:
            fail(f"ratio {key} is missing")
        if rat["median"] is None:
            if "mosquitto" not in key or not rat.get("skipped"):
                fail(f"ratio {key} has no value and no reason: {rat}")
        elif not number(rat["median"]) or rat["median"] <= 0:
            fail(f"ratio {key} is not a positive number: {rat}")
    if not doc.get("not_measured"):
        fail("the list of what is not measured yet is missing")
    if not isinstance(doc.get("machine", {}).get("cores"), int):
        fail("the machine's core count is missing")
    print(f"bench_quick: {len(FIGURES) - len(skipped)} figures measured"
          + (f", skipped with a reason: {', '.join(skipped)}" if skipped else ""))


main()
