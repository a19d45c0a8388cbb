#!/usr/bin/env python3
"""DuckDB doing the work `benches/rollup.rs` times in dnma, on the same staged-hits Parquet files:
sessionize every hit (30-minute timeout, per day, platform and visitor; attributes of the first
hit), write visits and usages as Parquet, then the rollups académie x week and école x week x
profil with exact distinct visitors.

Usage: python3 tools/rollup_duckdb.py ROLLUP_DIR   (ROLLUP_DIR holds hits/DAY/part-*.parquet)
"""
import os
import resource
import sys
import tempfile
import time

import duckdb

ATTRIBUTES = ["projet", "exploitant", "uai", "circonscription", "departement", "academie", "region", "profil", "device", "os", "browser"]
TIMEOUT_MS = 30 * 60 * 1000


def main(root):
    hits = os.path.join(root, "hits", "*", "*.parquet")
    out = tempfile.mkdtemp(prefix="duckdb-rollup-")
    con = duckdb.connect()
    con.execute("SET threads = 2")
    firsts = ", ".join(f'arg_min({a}, (time_ms, "offset")) AS {a}' for a in ATTRIBUTES)
    window = 'PARTITION BY day, plateforme, visitor ORDER BY time_ms, "offset"'
    numbered = f"""
        CREATE TEMP TABLE numbered AS
        WITH marked AS (
          SELECT *, CASE WHEN time_ms - lag(time_ms) OVER ({window}) <= {TIMEOUT_MS} THEN 0 ELSE 1 END AS starts
          FROM read_parquet('{hits}')
        )
        SELECT *, sum(starts) OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit_no FROM marked"""
    visits = f"""
        CREATE TEMP TABLE visits AS
        SELECT day, plateforme, visitor, visit_no, {firsts},
               min(time_ms) AS start_ms, (max(time_ms) - min(time_ms)) // 1000 AS duration_s, count(*) AS hits,
               sum(CASE WHEN page_view THEN 1 ELSE 0 END) AS page_views, sum(CASE WHEN click THEN 1 ELSE 0 END) AS clicks
        FROM numbered GROUP BY day, plateforme, visitor, visit_no"""
    usages = f"""
        COPY (
          SELECT v.* EXCLUDE (start_ms, hits, page_views, clicks), u.dim, u.value, u.page_views, u.clicks
          FROM (
            SELECT day, plateforme, visitor, visit_no, 'service' AS dim, service AS value,
                   sum(CASE WHEN page_view THEN 1 ELSE 0 END) AS page_views, sum(CASE WHEN click THEN 1 ELSE 0 END) AS clicks
            FROM numbered GROUP BY ALL
            UNION ALL
            SELECT day, plateforme, visitor, visit_no, 'outil', outil,
                   sum(CASE WHEN page_view THEN 1 ELSE 0 END), sum(CASE WHEN click THEN 1 ELSE 0 END)
            FROM numbered WHERE outil IS NOT NULL GROUP BY ALL
          ) u JOIN visits v USING (day, plateforme, visitor, visit_no)
        ) TO '{out}/usages.parquet' (FORMAT parquet, COMPRESSION snappy)"""
    started = time.perf_counter()
    con.execute(numbered)
    con.execute(visits)
    con.execute(f"COPY (SELECT *, date_trunc('week', day) AS week FROM visits) TO '{out}/visits.parquet' (FORMAT parquet, COMPRESSION snappy)")
    con.execute(usages)
    sessionize = time.perf_counter() - started
    con.execute("DROP TABLE numbered")
    con.execute("DROP TABLE visits")
    t = time.perf_counter()
    academies = con.execute(
        f"""SELECT academie, week, count(*), count(DISTINCT visitor), sum(page_views), sum(clicks), sum(duration_s)
            FROM read_parquet('{out}/visits.parquet') GROUP BY ALL"""
    ).fetchall()
    rollup_academie = time.perf_counter() - t
    t = time.perf_counter()
    schools = con.execute(
        f"""SELECT uai, week, profil, count(*), count(DISTINCT visitor), sum(page_views), sum(clicks), sum(duration_s)
            FROM read_parquet('{out}/visits.parquet') GROUP BY ALL"""
    ).fetchall()
    rollup_ecole = time.perf_counter() - t
    total = sessionize + rollup_academie + rollup_ecole
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"duckdb {duckdb.__version__}: sessionize + write visits/usages: {sessionize:.2f} s")
    print(f"duckdb: rollup académie × week: {rollup_academie:.2f} s ({len(academies)} cells)")
    print(f"duckdb: rollup école × week × profil: {rollup_ecole:.2f} s ({len(schools)} cells)")
    print(f"duckdb: total {total:.2f} s, peak RSS {peak} MiB")


if __name__ == "__main__":
    main(sys.argv[1])
