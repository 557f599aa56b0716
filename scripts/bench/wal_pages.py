#!/usr/bin/env python3
"""Which tables and indexes a running gateway's commits write, from its SQLite WAL.

    scripts/bench/wal_pages.py <data folder of a running gateway>

Copies the `-wal` file as it is, takes a consistent copy of the database with SQLite's backup
(`sqlite3 .backup`, through the WAL), maps each page number to its table or index (`dbstat`),
and counts the frames of the WAL's current generation (those written since it last started
again from its beginning, up to the writer's fallback checkpoint: thousands of frames, some
tens of commits) by table or index. A commit writes every page it changed as one frame, so
frames a commit is what a commit writes to the WAL and syncs. The last two columns split a
b-tree's frames into leaf and interior pages (the rest are overflow pages): an index whose
keys only grow still writes several leaves a commit, since SQLite rebalances an index's last
three leaves at each split (BENCHMARKS.md). Needs the `sqlite3` command (Debian package
sqlite3) with `dbstat` compiled in. Reads only: the gateway carries on.
"""

import collections
import os
import shutil
import struct
import subprocess
import sys
import tempfile

WAL_HEADER = 32
FRAME_HEADER = 24


def frames(wal_path):
    """(page number, commit?) of each frame of the current generation."""
    with open(wal_path, "rb") as f:
        header = f.read(WAL_HEADER)
        if len(header) < WAL_HEADER:
            return [], 0
        magic, _version, page_size, _checkpoint, salt1, salt2 = struct.unpack(">IIIIII", header[:24])
        if magic not in (0x377F0682, 0x377F0683):
            sys.exit(f"{wal_path} is not a WAL file")
        out = []
        while True:
            fh = f.read(FRAME_HEADER)
            if len(fh) < FRAME_HEADER:
                break
            page, size_after_commit, s1, s2 = struct.unpack(">IIII", fh[:16])
            if (s1, s2) != (salt1, salt2):
                break  # a frame of an earlier generation: the current one ends here
            if len(f.read(page_size)) < page_size:
                break
            out.append((page, size_after_commit != 0))
        # Frames after the last commit frame belong to a transaction still being written.
        while out and not out[-1][1]:
            out.pop()
        return out, page_size


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    data = sys.argv[1]
    db = os.path.join(data, "wijkbrug.db")
    with tempfile.TemporaryDirectory() as tmp:
        wal_copy = os.path.join(tmp, "wal")
        shutil.copyfile(db + "-wal", wal_copy)
        snapshot = os.path.join(tmp, "snapshot.db")
        subprocess.run(["sqlite3", db, f".backup '{snapshot}'"], check=True)
        mapping = subprocess.run(
            ["sqlite3", snapshot, "SELECT pageno, name, pagetype FROM dbstat"],
            check=True, capture_output=True, text=True,
        ).stdout
        owner = {}
        kind = {}
        for line in mapping.splitlines():
            page, name, pagetype = line.split("|", 2)
            owner[int(page)] = name
            kind[int(page)] = pagetype
        found, page_size = frames(wal_copy)
    commits = sum(1 for _, c in found if c)
    if not commits:
        sys.exit("no committed frames in the WAL's current generation; try again under load")
    by_name = collections.Counter(owner.get(page, "(free or new page)") for page, _ in found)
    def of_kind(k):
        return collections.Counter(owner[page] for page, _ in found if kind.get(page) == k)

    leaves, interior = of_kind("leaf"), of_kind("internal")
    print(f"{len(found)} frames of {page_size} bytes in {commits} commits: "
          f"{len(found) / commits:.1f} pages a commit")
    print("| table or index | frames | share | a commit | leaves a commit | interior a commit |")
    print("|---|---|---|---|---|---|")
    for name, n in by_name.most_common():
        print(f"| {name} | {n} | {100 * n / len(found):.1f}% | {n / commits:.1f} "
              f"| {leaves[name] / commits:.1f} | {interior[name] / commits:.1f} |")


if __name__ == "__main__":
    main()
