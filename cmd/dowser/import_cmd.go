package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

const importUsage = `Usage: dowser import users|accounts|contacts|content|do-not-track FILE.csv [--database-url URL]

Creates or updates the rows of a CSV file whose header row names the
columns, in any order (on update, columns not named keep their values):

  users     id, name, role (rep|marketer|manager|admin|source), token
  accounts  id, name, owner, lifecycle (prospect|customer), region, industry, size
  contacts  id (the customer id), owner, account_id
  content   id, title, url_prefix, owner
  do-not-track  kind (customer|account), id: their events are dropped unseen

Required: id, and for users name and role. An owner must be a user already,
with a role that fits: a content owner is a marketer or admin, an account or
contact owner a rep or manager. Values follow the REST API's rules: ids of
letters, digits, _ . @ : - (at most 128), text without NUL, a content
url_prefix such as https://example.com/pricing.
Every row is checked first: any problem is reported as FILE:LINE: column:
reason, and nothing is imported (exit status 1). The rows are written in
one transaction: all of them or none.
`

// runImport runs `dowser import KIND FILE`.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("import")
	url := fs.String("database-url", "", "PostgreSQL URL (also read from DATABASE_URL)")
	pos, err := parseFlagsAndFiles(fs, args, stderr, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stderr, "\n"+importUsage)
	}
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fmt.Fprint(stderr, importUsage)
		return errUsage
	}
	kind, file := pos[0], pos[1]
	if _, _, ok := postgres.ImportColumns(kind); !ok {
		fmt.Fprintf(stderr, "dowser import: unknown kind %q\n\n%s", kind, importUsage)
		return errUsage
	}
	if *url == "" {
		*url = getenv("DATABASE_URL")
	}
	if *url == "" {
		return errors.New("no database: set --database-url, DOWSER_DATABASE_URL or DATABASE_URL")
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	batch, problems := readImport(kind, file, f)
	f.Close()
	report := func(problems []importProblem) error {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return fmt.Errorf("%s in %s; nothing imported", plural(len(problems), "problem"), file)
	}
	if len(problems) > 0 {
		return report(problems)
	}

	store, err := postgres.Open(ctx, *url)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	if problems, err = batch.checkOwners(ctx, store.Directory); err != nil {
		return err
	}
	if len(problems) > 0 {
		return report(problems)
	}
	n, err := store.Directory.Import(ctx, kind, batch.columns, batch.rows)
	var ie *postgres.ImportError
	if errors.As(err, &ie) {
		// Validation makes this rare (a token another user already has, a
		// row changed meanwhile): still name the line.
		return fmt.Errorf("%s:%d: %v; nothing imported", file, batch.lines[ie.Row], ie.Err)
	}
	if err != nil {
		return fmt.Errorf("%v; nothing imported", err)
	}
	fmt.Fprintf(stdout, "imported %s from %s\n", plural(n, strings.TrimSuffix(kind, "s")), file)
	return nil
}

// importBatch is a validated CSV file.
type importBatch struct {
	file    string
	kind    string
	columns []string
	rows    [][]string
	lines   []int // the line each row starts on
}

// importProblem is one thing wrong with an import file, printed as
// FILE:LINE: column: reason.
type importProblem struct {
	file   string
	line   int
	column string
	reason string
}

func (p importProblem) String() string {
	if p.column == "" {
		return fmt.Sprintf("%s:%d: %s", p.file, p.line, p.reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.file, p.line, p.column, p.reason)
}

// readImport reads and validates a whole CSV file of kind, and returns its
// rows, or every problem found. Token values never appear in a problem.
func readImport(kind, file string, r io.Reader) (*importBatch, []importProblem) {
	b := &importBatch{file: file, kind: kind}
	allowed, required, _ := postgres.ImportColumns(kind)
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // counted below, to report every bad row
	header, err := cr.Read()
	if err == io.EOF {
		return nil, []importProblem{{file, 1, "", "empty file: the first line must name the columns"}}
	}
	if err != nil {
		return nil, []importProblem{csvProblem(file, err)}
	}
	var problems []importProblem
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		switch {
		case !slices.Contains(allowed, name):
			problems = append(problems, importProblem{file, 1, name, fmt.Sprintf("unknown column; %s takes %s", kind, strings.Join(allowed, ", "))})
		case slices.Contains(b.columns, name):
			problems = append(problems, importProblem{file, 1, name, "named twice"})
		}
		header[i] = name
		b.columns = append(b.columns, name)
	}
	for _, name := range required {
		if !slices.Contains(b.columns, name) {
			problems = append(problems, importProblem{file, 1, name, "required column missing"})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	firstLine := map[[2]string]int{} // (column, value) -> line, for unique columns
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A syntax error (a stray quote) leaves the rest unreadable.
			return nil, append(problems, csvProblem(file, err))
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(b.columns) {
			problems = append(problems, importProblem{file, line, "", fmt.Sprintf("%d fields, but the header names %d columns", len(rec), len(b.columns))})
			continue
		}
		row := make([]string, len(rec))
		for i, v := range rec {
			v = strings.TrimSpace(v)
			col := b.columns[i]
			if col == "lifecycle" {
				v = dowser.DefaultLifecycle(v)
			}
			if reason := checkImportValue(kind, col, v); reason != "" {
				problems = append(problems, importProblem{file, line, col, reason})
			} else if (col == "id" || col == "token") && v != "" {
				key := [2]string{col, v}
				if prev, dup := firstLine[key]; dup {
					what := fmt.Sprintf("%q is also on line %d", v, prev)
					if col == "token" {
						what = fmt.Sprintf("same as line %d's", prev)
					}
					problems = append(problems, importProblem{file, line, col, what})
				} else {
					firstLine[key] = line
				}
			}
			row[i] = v
		}
		b.rows = append(b.rows, row)
		b.lines = append(b.lines, line)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return b, nil
}

func csvProblem(file string, err error) importProblem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return importProblem{file, pe.Line, "", "csv: " + pe.Err.Error()}
	}
	return importProblem{file, 0, "", err.Error()}
}

// checkImportValue returns why v is not a valid value of column col, or
// "": the rule of that field which the records' Validate, and so the REST
// API, apply (dowser.CheckField), so that whatever one accepts the other
// does. A row is checked column by column because it may carry only some
// of a record's fields: on update, the others keep their values.
func checkImportValue(kind, col, v string) string {
	if fe := dowser.CheckField(kind, col, v); fe != nil {
		return fe.Reason
	}
	return ""
}

// checkOwners reports the rows whose owner is not a user, or is one whose
// role may not own a row of this kind (dowser.CheckOwner).
func (b *importBatch) checkOwners(ctx context.Context, store *postgres.Directory) ([]importProblem, error) {
	col := slices.Index(b.columns, "owner")
	if col < 0 {
		return nil, nil
	}
	var owners []string
	for _, row := range b.rows {
		if row[col] != "" {
			owners = append(owners, row[col])
		}
	}
	roles, err := store.UserRoles(ctx, owners)
	if err != nil {
		return nil, err
	}
	var problems []importProblem
	for i, row := range b.rows {
		if fe := dowser.CheckOwner(b.kind, "owner", row[col], roles[row[col]]); fe != nil {
			reason := fe.Reason
			if roles[row[col]] == "" {
				reason += "; import users first"
			}
			problems = append(problems, importProblem{b.file, b.lines[i], "owner", reason})
		}
	}
	return problems, nil
}
