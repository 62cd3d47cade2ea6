"""Runs PostgreSQL 16 + pgvector from the PyPI package `pgserver` for the HNSW
benchmark: bench-hnsw starts this, reads the socket directory from the first
line it prints, and closes stdin to stop it.

Usage: pgvector_server.py <pgdata directory>
"""

import sys

import pgserver

SETTINGS = {
    # The 100K x 768 HNSW index (~400 MB) and its table fit in shared memory,
    # as pgvector's documentation recommends for serving.
    "shared_buffers": "'3GB'",
    # One leader + one worker: the machine's 2 cores, as lakehouse uses.
    "max_parallel_maintenance_workers": "1",
    "max_parallel_workers": "2",
    "jit": "off",
}


def main() -> None:
    pgdata = sys.argv[1]
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    server.psql(
        "CREATE EXTENSION IF NOT EXISTS vector;"
        + "".join(f"ALTER SYSTEM SET {k} = {v};" for k, v in SETTINGS.items())
    )
    # shared_buffers needs a restart.
    server.cleanup()
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    version = server.psql(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
    ).split()
    print(f"socket={pgdata} pgvector={version[2] if len(version) > 2 else '?'}", flush=True)
    sys.stdin.read()
    server.cleanup()


if __name__ == "__main__":
    main()
