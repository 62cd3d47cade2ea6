"""Client compatibility checks, run unchanged against PostgreSQL and lakehouse.

Usage: python matrix.py DSN  -> one JSON object per line: {"client", "check", "ok", "detail"}.
The caller (tests/tests/clients.rs) has created the same tables and rows on both
servers: teams(id bigint primary key, name text unique) with 1 row;
people(id bigint primary key, name text, score float8, active bool, born date,
seen timestamp, team_id bigint references teams) with 2 rows, commented
('People we know'; people.name 'Full name'); an empty people_copy(id bigint, name text),
where each check that writes keeps to its own ids (0-9 transactions, 10 and up COPY
and pandas, below 0 psql).
Each check is one thing a real tool does; a check fails by raising.
"""

import asyncio
import datetime
import decimal
import io
import json
import sys
import uuid

DSN = sys.argv[1]
RESULTS = []


def asyncpg_url(dsn):
    """asyncpg wants a URL; unknown query keys become server settings."""
    from psycopg.conninfo import conninfo_to_dict
    from urllib.parse import quote

    d = conninfo_to_dict(dsn)
    auth = quote(d.get("user", ""))
    if d.get("password"):
        auth += ":" + quote(d["password"])
    url = f"postgresql://{auth}@{d.get('host', '127.0.0.1')}:{d.get('port', 5432)}/{d.get('dbname', '')}"
    options = d.get("options", "")
    if options.startswith("-csearch_path="):
        url += "?search_path=" + quote(options.split("=", 1)[1])
    return url


class Shape(str):
    """A check's result that must equal PostgreSQL's (clients.rs compares them)."""


def check(client, name):
    def wrap(fn):
        try:
            detail = fn()
            if asyncio.iscoroutine(detail):
                detail = asyncio.run(detail)
            result = {"client": client, "check": name, "ok": True, "detail": str(detail or "")[:200]}
            if isinstance(detail, Shape):
                result["shape"] = str(detail)
            RESULTS.append(result)
        except Exception as e:  # noqa: BLE001 - every failure is a result
            RESULTS.append({"client": client, "check": name, "ok": False, "detail": f"{type(e).__name__}: {e}"[:300]})
        return fn
    return wrap


# ---------------------------------------------------------------- psycopg2
import psycopg2  # noqa: E402


def pg2():
    return psycopg2.connect(DSN)


@check("psycopg2", "connect, server_version")
def _():
    with pg2() as c:
        assert c.server_version >= 90000, c.server_version
        return c.server_version


@check("psycopg2", "parameters")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT name, score FROM people WHERE id = %s AND name <> %s", (1, "x"))
        assert cur.fetchall() == [("Ann", 3.5)]


@check("psycopg2", "types of a row")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT id, name, score, active, born, seen FROM people ORDER BY id")
        rows = cur.fetchall()
        assert rows[0] == (1, "Ann", 3.5, True, datetime.date(1990, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5)), rows
        assert rows[1][2] is None


@check("psycopg2", "copy_expert TO STDOUT")
def _():
    with pg2() as c, c.cursor() as cur:
        out = io.StringIO()
        cur.copy_expert("COPY (SELECT id, name FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv)", out)
        assert out.getvalue() == "1,Ann\n2,Bob\n", out.getvalue()


@check("psycopg2", "copy_expert FROM STDIN")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.copy_expert("COPY people_copy FROM STDIN WITH (FORMAT csv)", io.StringIO("10,x\n11,y\n"))
        c.commit()
        cur.execute("SELECT count(*) FROM people_copy WHERE id >= 10")
        assert cur.fetchone()[0] == 2


@check("psycopg2", "current_setting('server_version_num')")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')")
        v = int(cur.fetchone()[0])
        assert v >= 90000, v


@check("psycopg2", "savepoint / rollback to")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT 1")
        cur.execute("SAVEPOINT s1")
        cur.execute("RELEASE SAVEPOINT s1")
        cur.execute("SAVEPOINT s2")
        cur.execute("ROLLBACK TO SAVEPOINT s2")
        c.rollback()


@check("psycopg2", "error after a savepoint: ROLLBACK TO, then the transaction goes on")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SAVEPOINT before_error")
        try:
            cur.execute("SELECT 1 / 0")
            raise AssertionError("1 / 0 did not fail")
        except psycopg2.errors.DivisionByZero:
            pass
        cur.execute("ROLLBACK TO SAVEPOINT before_error")
        cur.execute("SELECT name FROM people WHERE id = 1")
        assert cur.fetchone() == ("Ann",)
        c.rollback()


@check("psycopg2", "rollback() writes nothing; commit() shows the rows to other connections")
def _():
    count = "SELECT count(*) FROM people_copy WHERE id BETWEEN 1 AND 3"
    with pg2() as c, pg2() as other, c.cursor() as cur, other.cursor() as ocur:
        other.autocommit = True
        cur.execute("INSERT INTO people_copy VALUES (%s, %s)", (1, "rolled back"))
        cur.execute(count)
        assert cur.fetchone()[0] == 1, "the transaction does not see its own row"
        c.rollback()
        cur.execute(count)
        assert cur.fetchone()[0] == 0, "rollback() kept the row"
        cur.execute("INSERT INTO people_copy VALUES (%s, %s)", (2, "committed"))
        ocur.execute(count)
        assert ocur.fetchone()[0] == 0, "another connection saw an uncommitted row"
        c.commit()
        ocur.execute("SELECT id, name FROM people_copy WHERE id BETWEEN 1 AND 3")
        assert ocur.fetchall() == [(2, "committed")]


@check("psycopg2", "scrollable named cursor: scroll relative and absolute (MOVE)")
def _():
    with pg2() as c, c.cursor("matrix_scroll2", scrollable=True) as cur:
        cur.execute("SELECT id FROM people ORDER BY id")
        assert cur.fetchall() == [(1,), (2,)]
        cur.scroll(0, mode="absolute")
        assert cur.fetchone() == (1,)
        cur.scroll(-1)
        assert cur.fetchone() == (1,)
        cur.scroll(2, mode="absolute")
        assert cur.fetchone() is None


@check("psycopg2", "information_schema: columns with PostgreSQL types")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT column_name, data_type, udt_name, is_nullable FROM information_schema.columns "
                    "WHERE table_name = 'people' AND table_schema = current_schema() ORDER BY ordinal_position")
        got = cur.fetchall()
        assert got == [("id", "bigint", "int8", "NO"), ("name", "text", "text", "YES"),
                       ("score", "double precision", "float8", "YES"), ("active", "boolean", "bool", "YES"),
                       ("born", "date", "date", "YES"), ("seen", "timestamp without time zone", "timestamp", "YES"),
                       ("team_id", "bigint", "int8", "YES")], got


@check("psycopg2", "information_schema: table_constraints, key_column_usage")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT tc.table_name, tc.constraint_name, tc.constraint_type, kcu.column_name "
                    "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
                    "ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema "
                    "WHERE tc.table_schema = current_schema() AND tc.table_name IN ('people', 'teams') "
                    "ORDER BY 1, 2")
        got = cur.fetchall()
        assert got == [("people", "people_pkey", "PRIMARY KEY", "id"),
                       ("people", "people_team_id_fkey", "FOREIGN KEY", "team_id"),
                       ("teams", "teams_name_key", "UNIQUE", "name"),
                       ("teams", "teams_pkey", "PRIMARY KEY", "id")], got


@check("psycopg2", "comments: obj_description, col_description")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT obj_description('people'::regclass, 'pg_class'), col_description('people'::regclass, 2)")
        assert cur.fetchone() == ("People we know", "Full name")


@check("psycopg2", "current_user is the login role")
def _():
    with pg2() as c, c.cursor() as cur:
        cur.execute("SELECT current_user, session_user")
        a, b = cur.fetchone()
        assert a == b == c.info.user, (a, b, c.info.user)


# ---------------------------------------------------------------- psycopg 3
import psycopg  # noqa: E402


def pg3(**kw):
    return psycopg.connect(DSN, **kw)


@check("psycopg", "prepared statement reused")
def _():
    with pg3() as c:
        for i in (1, 2, 1):
            row = c.execute("SELECT name FROM people WHERE id = %s", (i,), prepare=True).fetchone()
            assert row == ({1: "Ann", 2: "Bob"}[i],), row


@check("psycopg", "binary cursor")
def _():
    with pg3() as c, c.cursor(binary=True) as cur:
        cur.execute("SELECT id, name, score, active, born, seen FROM people WHERE id = 1")
        assert cur.fetchone() == (1, "Ann", 3.5, True, datetime.date(1990, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5))


@check("psycopg", "typed parameters: int, float, numeric, bool, text, date, timestamp")
def _():
    with pg3() as c:
        row = c.execute(
            "SELECT %s::int8 + 1, %s::float8 * 2, %s::numeric, NOT %s::bool, %s::text || '!', %s::date, %s::timestamp",
            (41, 1.25, decimal.Decimal("2.50"), False, "hi", datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 1, 12, 0)),
        ).fetchone()
        assert row[:2] == (42, 2.5) and row[3:] == (True, "hi!", datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 1, 12, 0)), row
        assert decimal.Decimal(row[2]) == decimal.Decimal("2.5"), row


@check("psycopg", "typed parameters: timestamptz, uuid, int[]")
def _():
    with pg3() as c:
        ts = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
        u = uuid.UUID("12345678-1234-5678-1234-567812345678")
        row = c.execute("SELECT %s::timestamptz, %s::uuid::text, %s::int8[]", (ts, u, [1, 2, 3])).fetchone()
        assert row[0] == ts and row[1] == str(u) and list(row[2]) == [1, 2, 3], row


@check("psycopg", "COPY FROM STDIN / TO STDOUT")
def _():
    with pg3(autocommit=True) as c, c.cursor() as cur:
        with cur.copy("COPY people_copy (id, name) FROM STDIN") as copy:
            copy.write_row((20, "p3"))
        out = []
        with cur.copy("COPY (SELECT id, name FROM people_copy WHERE id = 20) TO STDOUT") as copy:
            for row in copy.rows():
                out.append(row)
        assert out == [("20", "p3")], out


@check("psycopg", "binary COPY FROM STDIN (write_row with set_types)")
def _():
    with pg3(autocommit=True) as c, c.cursor() as cur:
        with cur.copy("COPY people_copy (id, name) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text"])
            copy.write_row((25, "binary"))
            copy.write_row((26, None))
        rows = cur.execute("SELECT id, name FROM people_copy WHERE id IN (25, 26) ORDER BY id").fetchall()
        assert rows == [(25, "binary"), (26, None)], rows


@check("psycopg", "= ANY(%s) with a list of strings")
def _():
    with pg3() as c:
        rows = c.execute("SELECT name FROM people WHERE name = ANY(%s) ORDER BY id", (["Bob", "Zed"],)).fetchall()
        assert rows == [("Bob",)], rows


@check("psycopg", "server-side (named) cursor")
def _():
    with pg3() as c, c.cursor(name="matrix_cursor") as cur:
        cur.execute("SELECT id FROM people ORDER BY id")
        assert cur.fetchone() == (1,)
        assert cur.fetchall() == [(2,)]


@check("psycopg", "comment-only query is an empty query")
def _():
    with pg3() as c:
        result = c.pgconn.exec_(b"-- ping")
        assert result.status == psycopg.pq.ExecStatus.EMPTY_QUERY, result.status


@check("psycopg", "autocommit and transaction with savepoint")
def _():
    with pg3(autocommit=True) as c:
        with c.transaction():
            c.execute("SELECT 1")
            with c.transaction():  # a SAVEPOINT
                c.execute("SELECT 2")


@check("psycopg", "error in a nested transaction rolls back to its savepoint; the outer one goes on")
def _():
    with pg3(autocommit=True) as c:
        with c.transaction():
            try:
                with c.transaction():  # SAVEPOINT; ROLLBACK TO SAVEPOINT on the error
                    c.execute("SELECT 1 / 0")
                raise AssertionError("1 / 0 did not fail")
            except psycopg.errors.DivisionByZero:
                pass
            assert c.execute("SELECT name FROM people WHERE id = 2").fetchone() == ("Bob",)
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS, c.info.transaction_status


@check("psycopg", "a nested transaction rolled back undoes its own inserts only")
def _():
    with pg3() as c:
        c.execute("INSERT INTO people_copy VALUES (4, 'outer')")
        try:
            with c.transaction():  # SAVEPOINT; ROLLBACK TO SAVEPOINT on the exception
                c.execute("INSERT INTO people_copy VALUES (5, 'inner')")
                raise LookupError("undo the inner block")
        except LookupError:
            pass
        c.execute("INSERT INTO people_copy VALUES (6, 'outer again')")
        c.commit()
        rows = c.execute("SELECT id FROM people_copy WHERE id BETWEEN 4 AND 6 ORDER BY id").fetchall()
        assert rows == [(4,), (6,)], rows


@check("psycopg", "scrollable server-side cursor (SCROLL, MOVE)")
def _():
    with pg3() as c, c.cursor(name="matrix_scroll3", scrollable=True) as cur:
        cur.execute("SELECT id FROM people ORDER BY id")
        assert cur.fetchall() == [(1,), (2,)]
        cur.scroll(0, mode="absolute")
        assert cur.fetchone() == (1,)
        cur.scroll(-1)
        assert cur.fetchmany(5) == [(1,), (2,)]


@check("psycopg", "prepared statements evicted from the driver's cache; DEALLOCATE ALL")
def _():
    with pg3(prepare_threshold=0) as c:
        c.prepared_max = 2
        for round_ in range(2):
            for i in range(5):
                got = c.execute(f"SELECT %s::int + {i}", (round_,)).fetchone()
                assert got == (round_ + i,), got
        c.execute("DEALLOCATE ALL")
        assert c.execute("SELECT %s::int + 1", (1,)).fetchone() == (2,)


@check("psycopg", "DISCARD ALL resets settings, cursors and prepared statements")
def _():
    with pg3(autocommit=True) as c:
        c.execute("SET application_name = 'matrix_discard'")
        c.execute("PREPARE matrix_two AS SELECT 2")
        c.execute("DECLARE matrix_held CURSOR WITH HOLD FOR SELECT 1")
        c.execute("DISCARD ALL")
        got = c.execute("SHOW application_name").fetchone()
        assert got == ("",), got
        for gone, error in (("EXECUTE matrix_two", psycopg.errors.InvalidSqlStatementName),
                            ("FETCH 1 FROM matrix_held", psycopg.errors.InvalidCursorName)):
            try:
                c.execute(gone)
                raise AssertionError(f"{gone} still works")
            except error:
                pass


@check("psycopg", "parameter changes reported to the driver (ParameterStatus)")
def _():
    with pg3(autocommit=True) as c:
        status = c.info.parameter_status
        c.execute("SET TimeZone = 'Europe/Paris'")
        c.execute("SET application_name = 'matrix_reported'")
        seen = [status("TimeZone"), status("application_name")]
        c.execute("BEGIN")
        c.execute("SET application_name = 'matrix_rolled_back'")
        c.execute("ROLLBACK")
        seen.append(status("application_name"))
        assert seen == ["Europe/Paris", "matrix_reported", "matrix_reported"], seen


# ---------------------------------------------------------------- Metabase and Grafana (psycopg)
MATRIX_TABLES = ("teams", "people", "people_copy")


def bi_sync_queries():
    """(check, params, keep, count_only, sql) for each block of bi_sync.sql."""
    import pathlib

    blocks = []
    for line in (pathlib.Path(__file__).parent / "bi_sync.sql").read_text().splitlines():
        if line.startswith("-- check: "):
            blocks.append({"check": line[len("-- check: "):], "params": [], "keep": None, "count": False, "sql": []})
        elif not blocks:
            continue
        elif line.startswith("-- params: "):
            blocks[-1]["params"] = [p.strip() for p in line[len("-- params: "):].split(",")]
        elif line.startswith("-- keep: "):
            blocks[-1]["keep"] = [k.strip() for k in line[len("-- keep: "):].split(",")]
        elif line.startswith("-- compare: count"):
            blocks[-1]["count"] = True
        else:
            blocks[-1]["sql"].append(line)
    for b in blocks:
        b["sql"] = "\n".join(b["sql"]).strip().rstrip(";")
    return blocks


def as_pyformat(sql):
    """`?` placeholders (outside quotes) -> %s, and a literal % -> %%."""
    out, quote = [], None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


def shape_of(columns, rows, session):
    """Rows as text, the session's schema, database and user masked, sorted."""
    # The database and the user may share a name: one mask for both.
    masks = {session["db"]: "<name>", session["user"]: "<name>", session["schema"]: "<schema>"}

    def text(v):
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, (int, float, decimal.Decimal)):
            return format(decimal.Decimal(str(v)).normalize(), "f")
        return masks.get(str(v), str(v))

    rows = [tuple(text(v) for v in r) for r in rows]
    # Rows of the session's schema if the rows name schemas (other schemas of
    # the PostgreSQL database may hold tables of the same names), else rows
    # naming a matrix table, else all.
    in_schema = [r for r in rows if "<schema>" in r]
    named = [r for r in rows if any(v in MATRIX_TABLES for v in r)]
    return Shape(json.dumps({"columns": columns, "rows": sorted(in_schema or named or rows)}))


for _query in bi_sync_queries():
    @check("psycopg", _query["check"].replace(": ", " sync: ", 1))
    def _(q=_query):
        with pg3(autocommit=True) as c:
            schema, db, user = c.execute("SELECT current_schema(), current_database(), current_user").fetchone()
            session = {"schema": schema, "db": db, "user": user}
            params = [schema if p == "schema" else int(p) if p.lstrip("-").isdigit() else p for p in q["params"]]
            cur = c.execute(as_pyformat(q["sql"]), params) if params else c.execute(q["sql"])
            if cur.description is None:
                return Shape(json.dumps({"status": cur.statusmessage}))
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
            keep = q["keep"] or columns
            idx = [columns.index(k) for k in keep]
            if q["count"]:
                return Shape(json.dumps({"columns": columns, "rows": len(rows)}))
            return shape_of(keep, [[r[i] for i in idx] for r in rows], session)


# ---------------------------------------------------------------- psql 15
import os  # noqa: E402
import pty  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def session_names():
    with pg3() as c:
        schema, db, user = c.execute("SELECT current_schema(), current_database(), current_user").fetchone()
    return {"schema": schema, "db": db, "user": user}


def psql(*args, stdin=None):
    """psql 15, unaligned, its output as text; a failure or an ERROR raises."""
    out = subprocess.run(["psql", "-X", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", DSN, *args],
                         input=stdin, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or "ERROR" in out.stderr:
        raise RuntimeError((out.stderr or out.stdout).strip())
    return out.stdout


def psql_shape(text, mode):
    """psql's display with the session's schema, database, user (and a table's
    access method) masked: all of
    it ("describe"), of a listing its title, header and the rows naming a matrix
    table or the schema ("listing"), the row of the session's own role ("own
    role"), or only the title and header ("header")."""
    s = session_names()
    masks = {s["db"]: "<name>", s["user"]: "<name>", s["schema"]: "<schema>"}
    lines = []
    for i, line in enumerate(text.splitlines()):
        if re.fullmatch(r"\(\d+ rows?\)", line):
            continue
        line = line.replace(f'"{s["schema"]}.', '"<schema>.')
        # The storage behind a table differs by design (heap / delta); that
        # psql shows it is what must match.
        line = re.sub(r"^Access method: \w+$", "Access method: <method>", line)
        cells = [masks.get(c, c) for c in line.split("|")]
        if mode == "header" and i > 1:
            break
        is_row = len(cells) > 1 and i > 1
        if mode == "listing" and is_row and not any(c in MATRIX_TABLES or c == "<schema>" for c in cells):
            continue
        if mode == "own role" and is_row and cells[0] != "<name>":
            continue
        lines.append("|".join(cells))
    if mode == "listing" and len(lines) <= 2:
        # psql prints no table at all for an empty listing.
        lines = []
    return Shape("\n".join(lines))


PSQL_DISPLAYS = [
    ("\\dt", "listing"),
    ("\\d people", "describe"),
    ("\\d teams", "describe"),
    ("\\d+ people", "describe"),
    ("\\l", "header"),
    ("\\dn", "listing"),
    ("\\df", "listing"),
    ("\\dv", "listing"),
    ("\\du", "own role"),
    ("\\dT", "listing"),
]

for _command, _mode in PSQL_DISPLAYS:
    @check("psql", f"{_command} shows what PostgreSQL shows")
    def _(command=_command, mode=_mode):
        return psql_shape(psql("-c", command), mode)


@check("psql", "\\copy FROM STDIN and TO STDOUT")
def _():
    psql("-c", "\\copy people_copy (id, name) FROM STDIN", stdin="-2\tv1\n-1\tv2\n")
    out = psql("-c", "\\copy (SELECT id, name FROM people_copy WHERE id < 0 ORDER BY id) TO STDOUT")
    assert out == "-2\tv1\n-1\tv2\n", out


@check("psql", "--single-transaction script that fails leaves nothing behind and runs again")
def _():
    script = ("CREATE TABLE tx_script (id bigint PRIMARY KEY);\n"
              "INSERT INTO tx_script VALUES (1);\n"
              "INSERT INTO people_copy VALUES (0, 'script');\n"
              "SELECT 1 / 0;\n")
    for _attempt in (1, 2):
        try:
            psql("--single-transaction", "-f", "-", stdin=script)
            raise AssertionError("the script did not fail")
        except RuntimeError as e:
            assert "division by zero" in str(e), e
    out = psql("-t", "-c", "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'tx_script'")
    assert out.strip() == "0", out
    out = psql("-t", "-c", "SELECT count(*) FROM people_copy WHERE id = 0")
    assert out.strip() == "0", out


def psql_completion(typed):
    """What psql's tab completion makes of `typed` at an interactive prompt
    (a pseudo-terminal): the line as echoed after the prompt."""
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, TERM="dumb")
        os.execvpe("psql", ["psql", "-X", "-d", DSN], env)
    out = b""

    def read(seconds):
        nonlocal out
        end = time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        read(1.5)
        before = len(out)
        os.write(fd, typed.encode())
        read(1.5)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return out[before:].decode(errors="replace").replace("\x07", "")


@check("psql", "tab completion: table and column names")
def _():
    table = psql_completion("SELECT * FROM tea\t")
    column = psql_completion("SELECT * FROM teams WHERE na\t")
    assert table.endswith("teams ") and column.endswith("name "), (table, column)
    return Shape(f"{table!r} {column!r}")


@check("psql", "tab completion: \\d, \\dn, schemas, settings, INSERT and COPY targets")
def _():
    typed = ["\\d peo\t", "\\dn lh_\t", "SELECT * FROM lh_ma\t", "SET search_pa\t",
             "INSERT INTO tea\t", "COPY people_c\t"]
    schema = session_names()["schema"]
    return Shape("\n".join(psql_completion(t).replace(schema, "<schema>") for t in typed))


# ---------------------------------------------------------------- pgcli


@check("pgcli", "completes table and column names")
def _():
    from pgcli.completion_refresher import CompletionRefresher
    from pgcli.pgcompleter import PGCompleter
    from pgcli.pgexecute import PGExecute
    from pgspecial.main import PGSpecial
    from prompt_toolkit.document import Document

    executor = PGExecute(dsn=DSN)
    completer = PGCompleter(smart_completion=True, pgspecial=PGSpecial())
    # What pgcli's background refresh runs at start (casing needs a file).
    for name, refresh in CompletionRefresher.refreshers.items():
        if name != "casing":
            refresh(completer, executor)
    tables = [c.text for c in completer.get_completions(Document("SELECT * FROM tea"), None)]
    sql = "SELECT  FROM teams"
    columns = {c.text for c in completer.get_completions(Document(sql, cursor_position=7), None)}
    assert tables[:1] == ["teams"] and {"id", "name"} <= columns, (tables[:5], sorted(columns)[:20])


@check("pgcli", "starts, runs \\dt")
def _():
    from pgcli.pgexecute import PGExecute
    from pgspecial.main import PGSpecial

    executor = PGExecute(dsn=DSN)
    title, rows, headers, status, *_ = next(iter(executor.run("\\dt", pgspecial=PGSpecial())))
    names = sorted(r[1] for r in rows)
    assert headers == ["Schema", "Name", "Type", "Owner"] and names == ["people", "people_copy", "teams"], (headers, names)
    # The program itself, at a terminal: it connects and shows its prompt.
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, TERM="xterm", PAGER="cat", HOME=os.environ.get("HOME", "/tmp"))
        os.execvpe(os.path.join(os.path.dirname(sys.executable), "pgcli"),
                   ["pgcli", "--less-chatty", DSN], env)
    out = b""
    try:
        end = time.time() + 20
        while time.time() < end and b">" not in out:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert b">" in out, out[-300:]


# ---------------------------------------------------------------- asyncpg
import asyncpg  # noqa: E402


@check("asyncpg", "fetch every column type")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        rows = await c.fetch("SELECT id, name, score, active, born, seen FROM people ORDER BY id")
        assert tuple(rows[0]) == (1, "Ann", 3.5, True, datetime.date(1990, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5)), rows
    finally:
        await c.close()


@check("asyncpg", "parameters and prepared statement")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        stmt = await c.prepare("SELECT name FROM people WHERE id = $1")
        assert await stmt.fetchval(2) == "Bob"
        assert await c.fetchval("SELECT $1::int8 + 1", 41) == 42
    finally:
        await c.close()


@check("asyncpg", "= ANY($1) with a list of ints")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        rows = await c.fetch("SELECT name FROM people WHERE id = ANY($1) ORDER BY id", [1, 2])
        assert [r["name"] for r in rows] == ["Ann", "Bob"], rows
    finally:
        await c.close()


@check("asyncpg", "type introspection (array parameter)")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        assert await c.fetchval("SELECT $1::int8[]", [1, 2]) == [1, 2]
    finally:
        await c.close()


@check("asyncpg", "copy_records_to_table (binary COPY) with every column type")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        await c.execute("DROP TABLE IF EXISTS binary_copy")
        await c.execute(
            "CREATE TABLE binary_copy (id bigint, n int, s smallint, name text, score float8, r real, ok bool, "
            "born date, seen timestamp, at timestamptz, price numeric(10,2), tags bigint[], words text[])")
        utc = datetime.timezone.utc
        records = [
            (1, 2, 3, "a", 1.5, 2.5, True, datetime.date(1990, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
             datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc), decimal.Decimal("12.50"), [1, 2, None], ["x", None]),
            (2,) + (None,) * 12,
            (3, -7, -1, "\u00fcn\u00ef", -0.25, 0.0, False, datetime.date(1969, 12, 31),
             datetime.datetime(1999, 12, 31, 23, 59, 59, 999999), datetime.datetime(2000, 1, 1, tzinfo=utc),
             decimal.Decimal("-0.01"), [], []),
        ]
        assert await c.copy_records_to_table("binary_copy", records=records) == "COPY 3"
        assert await c.copy_records_to_table("binary_copy", records=[(4, "d")], columns=["id", "name"]) == "COPY 1"
        rows = [tuple(r) for r in await c.fetch("SELECT * FROM binary_copy ORDER BY id")]
        assert rows == records + [(4, None, None, "d") + (None,) * 9], rows
    finally:
        await c.execute("DROP TABLE IF EXISTS binary_copy")
        await c.close()


@check("asyncpg", "nested transaction: an error rolls back to the savepoint")
async def _():
    c = await asyncpg.connect(asyncpg_url(DSN))
    try:
        async with c.transaction():
            try:
                async with c.transaction():
                    await c.fetchval("SELECT 1 / 0")
                raise AssertionError("1 / 0 did not fail")
            except asyncpg.DivisionByZeroError:
                pass
            assert await c.fetchval("SELECT name FROM people WHERE id = $1", 1) == "Ann"
    finally:
        await c.close()


# ---------------------------------------------------------------- SQLAlchemy 2 / pandas
import pandas  # noqa: E402
import sqlalchemy  # noqa: E402


def engine(dialect="psycopg2"):
    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(DSN)
    url = sqlalchemy.engine.URL.create(
        f"postgresql+{dialect}",
        username=d.get("user"),
        password=d.get("password"),
        host=d.get("host"),
        port=int(d.get("port", 5432)),
        database=d.get("dbname"),
    )
    options = d.get("options", "")
    if dialect == "asyncpg":
        from sqlalchemy.ext.asyncio import create_async_engine

        args = {"server_settings": {"search_path": options.split("=", 1)[1]}} if options else {}
        return create_async_engine(url, connect_args=args)
    args = {"options": options} if options else {}
    return sqlalchemy.create_engine(url, connect_args=args)


def inspected(dialect, fn):
    """Runs fn(inspector) with an inspector on the dialect's engine."""
    eng = engine(dialect)
    if dialect != "asyncpg":
        return fn(sqlalchemy.inspect(eng))

    async def run():
        try:
            async with eng.connect() as conn:
                return await conn.run_sync(lambda sync_conn: fn(sqlalchemy.inspect(sync_conn)))
        finally:
            await eng.dispose()

    return asyncio.run(run())


for _dialect in ("psycopg2", "psycopg", "asyncpg"):
    _name = "sqlalchemy" if _dialect == "psycopg2" else f"sqlalchemy+{_dialect}"

    @check(_name, "inspector: table and view names, has_table")
    def _(d=_dialect):
        def go(insp):
            names = insp.get_table_names()
            assert {"people", "people_copy", "teams"} <= set(names), names
            assert insp.has_table("people") and not insp.has_table("nope")
            # No views in the schema, and none from outside the search path
            # (information_schema's); a schema named as the user is on it.
            views = insp.get_view_names()
            assert not {"people", "teams", "tables", "schemata"} & set(views), views
        inspected(d, go)

    @check(_name, "inspector: columns, types, nullability, comments")
    def _(d=_dialect):
        cols = inspected(d, lambda insp: insp.get_columns("people"))
        got = [(c["name"], str(c["type"]), c["nullable"], c.get("comment")) for c in cols]
        assert got == [("id", "BIGINT", False, None), ("name", "TEXT", True, "Full name"),
                       ("score", "DOUBLE PRECISION", True, None), ("active", "BOOLEAN", True, None),
                       ("born", "DATE", True, None), ("seen", "TIMESTAMP", True, None),
                       ("team_id", "BIGINT", True, None)], got

    @check(_name, "inspector: schema names")
    def _(d=_dialect):
        names = inspected(d, lambda insp: insp.get_schema_names())
        assert "public" in names, names

    @check(_name, "inspector: primary keys")
    def _(d=_dialect):
        pk = inspected(d, lambda insp: insp.get_pk_constraint("people"))
        assert pk["constrained_columns"] == ["id"] and pk["name"] == "people_pkey", pk

    @check(_name, "inspector: foreign keys")
    def _(d=_dialect):
        fks = inspected(d, lambda insp: insp.get_foreign_keys("people"))
        assert [(f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in fks] \
            == [("people_team_id_fkey", ["team_id"], "teams", ["id"])], fks

    @check(_name, "inspector: unique constraints")
    def _(d=_dialect):
        uniques = inspected(d, lambda insp: insp.get_unique_constraints("teams"))
        assert [(u["name"], u["column_names"]) for u in uniques] == [("teams_name_key", ["name"])], uniques

    @check(_name, "inspector: indexes of a table without unique constraints")
    def _(d=_dialect):
        indexes = inspected(d, lambda insp: insp.get_indexes("people"))
        assert indexes == [], indexes

    @check(_name, "inspector: table comment")
    def _(d=_dialect):
        def go(insp):
            assert insp.get_table_comment("people")["text"] == "People we know"
            assert insp.get_table_comment("teams")["text"] is None
        inspected(d, go)


@check("pandas", "read_sql")
def _():
    df = pandas.read_sql("SELECT id, name, score FROM people ORDER BY id", engine())
    assert list(df["name"]) == ["Ann", "Bob"] and df["score"].isna().tolist() == [False, True], df


@check("pandas", "read_sql_table")
def _():
    df = pandas.read_sql_table("people", engine())
    assert len(df) == 2 and list(df.columns) == ["id", "name", "score", "active", "born", "seen", "team_id"], df


@check("pandas", "to_sql (append) and read back")
def _():
    eng = engine()
    pandas.DataFrame({"id": [30, 31], "name": ["q", "r"]}).to_sql("people_copy", eng, if_exists="append", index=False)
    df = pandas.read_sql("SELECT name FROM people_copy WHERE id >= 30 ORDER BY id", eng)
    assert list(df["name"]) == ["q", "r"], df


for r in RESULTS:
    print(json.dumps(r))
