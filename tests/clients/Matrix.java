// Client compatibility checks with pgjdbc (Debian's libpostgresql-jdbc-java,
// 42.5: what Metabase, DBeaver and DataGrip use), run unchanged against
// PostgreSQL and lakehouse. Same contract as matrix.py: one JSON object per
// line {"client", "check", "ok", "detail"}; a check fails by throwing.
//
// Usage: java -cp /usr/share/java/postgresql.jar Matrix.java DSN
// (DSN in libpq key=value form, as tests/tests/clients.rs passes it).

import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class Matrix {
    interface Check {
        Object run(Connection c) throws Exception;
    }

    static String url;
    static Properties props = new Properties();

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }

    /** A check's result that must equal PostgreSQL's (clients.rs compares them). */
    record Shape(String text) {
        public String toString() { return text; }
    }

    static void check(String name, Check check) {
        boolean ok;
        String detail;
        String shape = null;
        try (Connection c = DriverManager.getConnection(url, props)) {
            Object result = check.run(c);
            ok = true;
            detail = result == null ? "" : result.toString();
            if (result instanceof Shape) shape = detail;
        } catch (Throwable e) {
            ok = false;
            detail = e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        if (detail.length() > 300) detail = detail.substring(0, 300);
        System.out.println("{\"client\": \"pgjdbc\", \"check\": " + json(name) + ", \"ok\": " + ok
                + ", \"detail\": " + json(detail)
                + (shape == null ? "" : ", \"shape\": " + json(shape)) + "}");
    }

    /** One block of bi_sync.sql (see its header). */
    record SyncQuery(String check, List<String> params, List<String> keep, boolean countOnly, String sql) {}

    static List<SyncQuery> syncQueries() throws Exception {
        List<SyncQuery> out = new ArrayList<>();
        String check = null;
        List<String> params = List.of(), keep = null;
        boolean count = false;
        StringBuilder sql = new StringBuilder();
        List<String> lines = new ArrayList<>(Files.readAllLines(Path.of(System.getenv("BI_SYNC_SQL"))));
        lines.add("-- check: ");
        for (String line : lines) {
            if (line.startsWith("-- check: ")) {
                if (check != null) {
                    String text = sql.toString().strip();
                    if (text.endsWith(";")) text = text.substring(0, text.length() - 1);
                    out.add(new SyncQuery(check, params, keep, count, text));
                }
                check = line.substring("-- check: ".length());
                params = List.of();
                keep = null;
                count = false;
                sql.setLength(0);
            } else if (check == null) {
                continue;
            } else if (line.startsWith("-- params: ")) {
                params = Arrays.stream(line.substring(11).split(",")).map(String::strip).toList();
            } else if (line.startsWith("-- keep: ")) {
                keep = Arrays.stream(line.substring(9).split(",")).map(String::strip).toList();
            } else if (line.startsWith("-- compare: count")) {
                count = true;
            } else {
                sql.append(line).append('\n');
            }
        }
        return out;
    }

    /** Rows as text with the session's schema, database and user masked, sorted. */
    static Shape shape(ResultSet rs, List<String> keep, Map<String, String> masks) throws Exception {
        List<String> tables = List.of("teams", "people", "people_copy");
        List<List<String>> rows = new ArrayList<>();
        while (rs.next()) {
            List<String> row = new ArrayList<>();
            for (String column : keep) {
                String v = rs.getString(column);
                if (v != null) {
                    try {
                        v = new java.math.BigDecimal(v).stripTrailingZeros().toPlainString();
                    } catch (NumberFormatException e) {
                        v = masks.getOrDefault(v, v);
                    }
                }
                row.add(String.valueOf(v));
            }
            rows.add(row);
        }
        // Rows of the session's schema if the rows name schemas (other schemas of
        // the PostgreSQL database may hold tables of the same names), else rows
        // naming a matrix table, else all.
        List<List<String>> inSchema = rows.stream().filter(r -> r.contains("<schema>")).toList();
        List<List<String>> named = rows.stream()
                .filter(r -> r.stream().anyMatch(tables::contains)).toList();
        List<List<String>> kept = !inSchema.isEmpty() ? inSchema : !named.isEmpty() ? named : rows;
        List<String> lines = new ArrayList<>();
        for (List<String> r : kept) lines.add(String.join("|", r));
        lines.sort(null);
        return new Shape(String.join(",", keep) + "\n" + String.join("\n", lines));
    }

    static void expect(boolean condition, Object what) {
        if (!condition) throw new AssertionError(String.valueOf(what));
    }

    /** Column `column` of every row, as strings. */
    static List<String> column(ResultSet rs, String column) throws Exception {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(column));
        return out;
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1", port = "5432", db = "", options = null;
        for (String part : args[0].trim().split("\\s+")) {
            String[] kv = part.split("=", 2);
            switch (kv[0]) {
                case "host": host = kv[1]; break;
                case "port": port = kv[1]; break;
                case "dbname": db = kv[1]; break;
                case "user": props.setProperty("user", kv[1]); break;
                case "password": props.setProperty("password", kv[1]); break;
                case "options": options = kv[1]; break;
                default: break;
            }
        }
        if (options != null) props.setProperty("options", options.replace("-csearch_path", "-c search_path"));
        url = "jdbc:postgresql://" + host + ":" + port + "/" + db;
        final String database = db;

        check("connect, product version", c -> {
            DatabaseMetaData md = c.getMetaData();
            expect(md.getDatabaseProductName().equals("PostgreSQL"), md.getDatabaseProductName());
            expect(md.getDatabaseMajorVersion() >= 12, md.getDatabaseProductVersion());
            return md.getDatabaseProductVersion();
        });

        check("DatabaseMetaData: getCatalogs, getSchemas, getTableTypes", c -> {
            DatabaseMetaData md = c.getMetaData();
            List<String> catalogs = column(md.getCatalogs(), "TABLE_CAT");
            expect(catalogs.contains(database), catalogs);
            String schema = c.getSchema();
            List<String> schemas = column(md.getSchemas(), "TABLE_SCHEM");
            expect(schemas.contains(schema), schema + " not in " + schemas);
            List<String> types = column(md.getTableTypes(), "TABLE_TYPE");
            expect(types.contains("TABLE") && types.contains("VIEW"), types);
            return schema;
        });

        check("DatabaseMetaData: getTables", c -> {
            List<String> tables = column(
                    c.getMetaData().getTables(null, c.getSchema(), "%", new String[] {"TABLE"}), "TABLE_NAME");
            expect(tables.contains("people") && tables.contains("teams") && tables.contains("people_copy"), tables);
            return tables;
        });

        check("DatabaseMetaData: getColumns", c -> {
            ResultSet rs = c.getMetaData().getColumns(null, c.getSchema(), "people", "%");
            List<String> got = new ArrayList<>();
            while (rs.next()) {
                got.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":"
                        + rs.getInt("DATA_TYPE") + ":" + rs.getString("IS_NULLABLE") + ":"
                        + rs.getString("REMARKS"));
            }
            List<String> want = List.of("id:int8:-5:NO:null", "name:text:12:YES:Full name",
                    "score:float8:8:YES:null", "active:bool:-7:YES:null", "born:date:91:YES:null",
                    "seen:timestamp:93:YES:null", "team_id:int8:-5:YES:null");
            expect(got.equals(want), got);
            return got;
        });

        check("DatabaseMetaData: getPrimaryKeys", c -> {
            ResultSet rs = c.getMetaData().getPrimaryKeys(null, c.getSchema(), "people");
            expect(rs.next(), "no primary key");
            String got = rs.getString("COLUMN_NAME") + " " + rs.getString("PK_NAME") + " " + rs.getInt("KEY_SEQ");
            expect(got.equals("id people_pkey 1") && !rs.next(), got);
            return got;
        });

        check("DatabaseMetaData: getImportedKeys", c -> {
            ResultSet rs = c.getMetaData().getImportedKeys(null, c.getSchema(), "people");
            expect(rs.next(), "no foreign key");
            String got = rs.getString("PKTABLE_NAME") + "." + rs.getString("PKCOLUMN_NAME") + " <- "
                    + rs.getString("FKTABLE_NAME") + "." + rs.getString("FKCOLUMN_NAME") + " "
                    + rs.getString("FK_NAME");
            expect(got.equals("teams.id <- people.team_id people_team_id_fkey") && !rs.next(), got);
            return got;
        });

        check("DatabaseMetaData: getIndexInfo", c -> {
            ResultSet rs = c.getMetaData().getIndexInfo(null, c.getSchema(), "teams", false, false);
            List<String> got = new ArrayList<>();
            while (rs.next()) {
                got.add(rs.getString("INDEX_NAME") + ":" + rs.getString("COLUMN_NAME") + ":"
                        + rs.getBoolean("NON_UNIQUE"));
            }
            expect(got.contains("teams_pkey:id:false") && got.contains("teams_name_key:name:false"), got);
            return got;
        });

        check("DatabaseMetaData: getTypeInfo", c -> {
            List<String> types = column(c.getMetaData().getTypeInfo(), "TYPE_NAME");
            expect(types.contains("int4") && types.contains("text") && types.contains("timestamp"), types);
            return types.size() + " types";
        });

        check("DatabaseMetaData: getFunctions", c -> {
            List<String> functions = column(c.getMetaData().getFunctions(null, null, "%"), "FUNCTION_NAME");
            expect(!functions.isEmpty(), functions);
            return functions.size() + " functions";
        });

        check("prepared statement: binary after 5 executions", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT id, name, score, active, born, seen FROM people WHERE id = ?")) {
                for (int i = 0; i < 8; i++) {
                    ps.setLong(1, 1 + i % 2);
                    try (ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), "no row");
                        String got = rs.getLong(1) + " " + rs.getString(2) + " " + rs.getObject(3) + " "
                                + rs.getBoolean(4) + " " + rs.getDate(5) + " " + rs.getTimestamp(6);
                        String want = i % 2 == 0 ? "1 Ann 3.5 true 1990-01-02 2024-01-02 03:04:05.0"
                                : "2 Bob null false 1985-06-07 2024-02-03 04:05:06.0";
                        expect(got.equals(want), i + ": " + got);
                    }
                }
            }
            return null;
        });

        check("setFetchSize inside a transaction", c -> {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setFetchSize(1);
                List<String> ids = column(st.executeQuery("SELECT id FROM people ORDER BY id"), "id");
                expect(ids.equals(List.of("1", "2")), ids);
            }
            c.commit();
            return null;
        });

        check("Savepoint: rollback(savepoint) after an error, the transaction goes on", c -> {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                java.sql.Savepoint sp = c.setSavepoint("before_error");
                try {
                    st.executeQuery("SELECT 1 / 0");
                    throw new AssertionError("1 / 0 did not fail");
                } catch (java.sql.SQLException e) {
                    expect("22012".equals(e.getSQLState()), e.getSQLState());
                }
                c.rollback(sp);
                List<String> ids = column(st.executeQuery("SELECT id FROM people ORDER BY id"), "id");
                expect(ids.equals(List.of("1", "2")), ids);
            }
            c.rollback();
            return null;
        });

        check("setAutoCommit(false): rollback() writes nothing, commit() publishes the rows", c -> {
            c.setAutoCommit(false);
            String count = "SELECT count(*) AS n FROM people_copy WHERE id BETWEEN 7 AND 9";
            try (Statement st = c.createStatement();
                    Connection other = DriverManager.getConnection(url, props);
                    Statement ost = other.createStatement()) {
                st.executeUpdate("INSERT INTO people_copy VALUES (7, 'rolled back')");
                List<String> seen = column(st.executeQuery(count), "n");
                expect(seen.equals(List.of("1")), seen);
                c.rollback();
                seen = column(st.executeQuery(count), "n");
                expect(seen.equals(List.of("0")), seen);
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO people_copy VALUES (?, ?)")) {
                    ps.setLong(1, 8);
                    ps.setString(2, "committed");
                    ps.executeUpdate();
                }
                seen = column(ost.executeQuery(count), "n");
                expect(seen.equals(List.of("0")), "another connection saw " + seen);
                c.commit();
                seen = column(ost.executeQuery("SELECT id FROM people_copy WHERE id BETWEEN 7 AND 9"), "id");
                expect(seen.equals(List.of("8")), seen);
            }
            return null;
        });

        check("autosave=always: a failed statement does not abort the transaction", c -> {
            c.unwrap(PGConnection.class).setAutosave(org.postgresql.jdbc.AutoSave.ALWAYS);
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                try {
                    st.executeQuery("SELECT * FROM no_such_table");
                    throw new AssertionError("no_such_table was found");
                } catch (java.sql.SQLException e) {
                    expect("42P01".equals(e.getSQLState()), e.getSQLState());
                }
                List<String> ids = column(st.executeQuery("SELECT id FROM people ORDER BY id"), "id");
                expect(ids.equals(List.of("1", "2")), ids);
            }
            c.rollback();
            return null;
        });

        // Metabase's and Grafana's own SQL, replayed through pgjdbc as Metabase runs it.
        for (SyncQuery q : syncQueries()) {
            check(q.check().replaceFirst(": ", " sync: "), c -> {
                Map<String, String> masks;
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery("SELECT current_schema(), current_database(), current_user")) {
                    rs.next();
                    // The database and the user may share a name: one mask for both.
                    masks = new java.util.HashMap<>();
                    masks.put(rs.getString(2), "<name>");
                    masks.put(rs.getString(3), "<name>");
                    masks.put(rs.getString(1), "<schema>");
                }
                String schema = masks.entrySet().stream()
                        .filter(e -> e.getValue().equals("<schema>")).findFirst().orElseThrow().getKey();
                try (PreparedStatement ps = c.prepareStatement(q.sql())) {
                    for (int i = 0; i < q.params().size(); i++) {
                        String p = q.params().get(i);
                        if (p.equals("schema")) ps.setString(i + 1, schema);
                        else if (p.matches("-?[0-9]+")) ps.setInt(i + 1, Integer.parseInt(p));
                        else ps.setString(i + 1, p);
                    }
                    if (!ps.execute()) return new Shape("update count " + ps.getUpdateCount());
                    try (ResultSet rs = ps.getResultSet()) {
                        List<String> columns = new ArrayList<>();
                        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                            columns.add(rs.getMetaData().getColumnLabel(i));
                        }
                        if (q.countOnly()) {
                            int n = 0;
                            while (rs.next()) n++;
                            return new Shape(String.join(",", columns) + "\n" + n + " rows");
                        }
                        return shape(rs, q.keep() == null ? columns : q.keep(), masks);
                    }
                }
            });
        }

        check("CopyManager: copyIn and copyOut", c -> {
            CopyManager copy = ((PGConnection) c).getCopyAPI();
            long n = copy.copyIn("COPY people_copy FROM STDIN WITH (FORMAT csv)",
                    new ByteArrayInputStream("40,j1\n41,j2\n".getBytes(StandardCharsets.UTF_8)));
            expect(n == 2, n);
            StringWriter out = new StringWriter();
            copy.copyOut("COPY (SELECT id, name FROM people_copy WHERE id >= 40 ORDER BY id) TO STDOUT WITH (FORMAT csv)", out);
            expect(out.toString().equals("40,j1\n41,j2\n"), out);
            return null;
        });
    }
}
