package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// importColumn is a column an import may carry and where it is stored.
type importColumn struct {
	name     string // the CSV column
	sqlName  string // the table column
	required bool
}

// importTable is what an import of one kind writes.
type importTable struct {
	table   string
	columns []importColumn
}

func importTableOf(kind string) (importTable, bool) {
	switch kind {
	case dowser.KindUsers:
		return importTable{"users", []importColumn{
			{"id", "id", true}, {"name", "name", true}, {"role", "role", true}, {"token", "token_hash", false},
		}}, true
	case dowser.KindAccounts:
		return importTable{"accounts", []importColumn{
			{"id", "id", true}, {"name", "name", false}, {"owner", "owner_id", false}, {"lifecycle", "lifecycle", false},
			{"region", "region", false}, {"industry", "industry", false}, {"size", "size", false},
		}}, true
	case dowser.KindContacts:
		return importTable{"contacts", []importColumn{
			{"id", "id", true}, {"owner", "owner_id", false}, {"account_id", "account_id", false},
			{"name", "name", false}, {"title", "title", false}, {"email", "email", false},
			{"identity_consent", "identity_consent", false}, {"identity_consent_source", "identity_consent_source", false},
		}}, true
	case dowser.KindContent:
		return importTable{"content", []importColumn{
			{"id", "id", true}, {"title", "title", false}, {"url_prefix", "url_prefix", false}, {"owner", "owner_id", false},
			{"talking_point", "talking_point", false},
		}}, true
	case dowser.KindDoNotTrack:
		return importTable{"do_not_track", []importColumn{{"kind", "kind", true}, {"id", "id", true}}}, true
	}
	return importTable{}, false
}

// ImportKinds are the kinds of rows Import takes.
func ImportKinds() []string {
	return []string{dowser.KindUsers, dowser.KindAccounts, dowser.KindContacts, dowser.KindContent, dowser.KindDoNotTrack}
}

// ImportColumns returns the columns an import of kind may carry, and the
// ones it must; ok is false for a kind Import does not take.
func ImportColumns(kind string) (columns, required []string, ok bool) {
	t, ok := importTableOf(kind)
	for _, c := range t.columns {
		columns = append(columns, c.name)
		if c.required {
			required = append(required, c.name)
		}
	}
	return columns, required, ok
}

// ImportError is an Import that failed at one row; nothing was imported.
type ImportError struct {
	// Row is the index of the row in Import's rows.
	Row int
	Err error
}

func (e *ImportError) Error() string { return fmt.Sprintf("row %d: %v", e.Row, e.Err) }

func (e *ImportError) Unwrap() error { return e.Err }

// Import creates or updates rows of kind (one of ImportKinds) in one
// transaction: all of them, or on any error none. columns names the values
// of every row, and must include the kind's required columns; on update, a
// column not named keeps its value. Values are stored as given, so validate
// them first; only these are interpreted: an empty owner is none, a token
// is stored as its hash, an empty token keeps the user's current one, and
// a contact's identity_consent is true or not (empty or false: withdrawn,
// which deletes the stored name, title and e-mail).
// It returns the number of rows written.
func (s *Directory) Import(ctx context.Context, kind string, columns []string, rows [][]string) (int, error) {
	t, ok := importTableOf(kind)
	if !ok {
		return 0, fmt.Errorf("importing: unknown kind %q (want %s)", kind, strings.Join(ImportKinds(), ", "))
	}
	var cols []importColumn
	for _, name := range columns {
		i := slices.IndexFunc(t.columns, func(c importColumn) bool { return c.name == name })
		if i < 0 {
			return 0, fmt.Errorf("importing %s: unknown column %q", kind, name)
		}
		cols = append(cols, t.columns[i])
	}
	for _, c := range t.columns {
		if c.required && !slices.ContainsFunc(cols, func(have importColumn) bool { return have.name == c.name }) {
			return 0, fmt.Errorf("importing %s: column %q is required", kind, c.name)
		}
	}
	sql := importStatement(t.table, cols)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rotated, err := rotatedTokens(ctx, tx, t.table, cols, rows)
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for i, row := range rows {
			if len(row) != len(cols) {
				return &ImportError{Row: i, Err: fmt.Errorf("%d values for %d columns", len(row), len(cols))}
			}
			args := make([]any, len(row))
			for j, v := range row {
				args[j] = v
				if cols[j].name == "identity_consent" {
					// Without consent the table's trigger clears the identity.
					args[j] = v == "true"
				}
				if cols[j].name == "token" {
					if v == "" {
						args[j] = nil
					} else {
						args[j] = hashToken(v)
					}
				}
			}
			batch.Queue(sql, args...)
		}
		results := tx.SendBatch(ctx, batch)
		for i := range rows {
			if _, err := results.Exec(); err != nil {
				results.Close()
				return &ImportError{Row: i, Err: err}
			}
		}
		if err := results.Close(); err != nil {
			return err
		}
		// A replaced token ends the user's sessions, as PUT does.
		for _, id := range rotated {
			if err := revokeUser(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("importing %s: %w", kind, err)
	}
	return len(rows), nil
}

// rotatedTokens returns the existing users whose token the rows replace
// with another one.
func rotatedTokens(ctx context.Context, q querier, table string, cols []importColumn, rows [][]string) ([]string, error) {
	id := slices.IndexFunc(cols, func(c importColumn) bool { return c.name == "id" })
	tok := slices.IndexFunc(cols, func(c importColumn) bool { return c.name == "token" })
	if table != "users" || id < 0 || tok < 0 {
		return nil, nil
	}
	var ids []string
	var hashes [][]byte
	for _, row := range rows {
		if len(row) == len(cols) && row[tok] != "" {
			ids, hashes = append(ids, row[id]), append(hashes, hashToken(row[tok]))
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows2, err := q.Query(ctx, `
		SELECT u.id FROM users u JOIN unnest($1::text[], $2::bytea[]) AS n(id, hash) ON n.id = u.id
		WHERE u.token_hash IS DISTINCT FROM n.hash`, ids, hashes)
	if err != nil {
		return nil, fmt.Errorf("finding rotated tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows2, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding rotated tokens: %w", err)
	}
	return out, nil
}

// importStatement is the upsert of one row of cols into table.
func importStatement(table string, cols []importColumn) string {
	if table == "do_not_track" {
		// An entry is there or not: nothing to update.
		names := make([]string, len(cols))
		values := make([]string, len(cols))
		for i, c := range cols {
			names[i], values[i] = c.sqlName, "$"+strconv.Itoa(i+1)
		}
		return "INSERT INTO do_not_track (" + strings.Join(names, ", ") + ", created_by) VALUES (" + strings.Join(values, ", ") +
			", 'import') ON CONFLICT (kind, id) DO NOTHING"
	}
	var names, values, updates []string
	for i, c := range cols {
		p := "$" + strconv.Itoa(i+1)
		names = append(names, c.sqlName)
		switch c.sqlName {
		case "owner_id":
			values = append(values, "nullif("+p+"::text, '')")
		case "token_hash":
			values = append(values, p+"::bytea")
		default:
			values = append(values, p)
		}
		switch c.sqlName {
		case "id":
		case "token_hash":
			updates = append(updates, "token_hash = coalesce(EXCLUDED.token_hash, "+table+".token_hash)")
		default:
			updates = append(updates, c.sqlName+" = EXCLUDED."+c.sqlName)
		}
	}
	updates = append(updates, "updated_at = now()")
	return "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(values, ", ") +
		") ON CONFLICT (id) DO UPDATE SET " + strings.Join(updates, ", ")
}
