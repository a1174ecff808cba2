package csvimport

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dowserhq/dowser"
)

// Table is what a kind of import may carry: the columns allowed, in their
// documented order, and those required.
type Table struct {
	Kind     string
	Columns  []string
	Required []string
}

// Batch is a CSV file as read: its columns as the header names them, and
// its rows with the line each starts on. Only a batch read without
// problems may be imported.
type Batch struct {
	File    string
	Kind    string
	Columns []string
	Rows    [][]string
	// Lines[i] is the line Rows[i] starts on.
	Lines []int
}

// Problem is one thing wrong with an import file, printed as
// FILE:LINE: column: reason (FILE:LINE: reason when no column is at fault).
type Problem struct {
	File   string
	Line   int
	Column string
	Reason string
}

// String words the problem for the person fixing the file.
func (p Problem) String() string {
	if p.Column == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Column, p.Reason)
}

// Read reads and checks a whole CSV file, named file, of the kind t
// describes, in one pass, and returns its rows and every problem found, in
// line order: a header's unknown or repeated column is reported and the
// rows' other columns are still checked, so that one run names all that is
// wrong. The batch is nil only when no row could be read (an empty file, a
// header that is not CSV). Values are trimmed, and an empty lifecycle is
// the default one. Token values never appear in a problem.
func Read(file string, t Table, r io.Reader) (*Batch, []Problem) {
	b := &Batch{File: file, Kind: t.Kind}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // counted below, to report every bad row
	header, err := cr.Read()
	if err == io.EOF {
		return nil, []Problem{{file, 1, "", "empty file: the first line must name the columns"}}
	}
	if err != nil {
		return nil, []Problem{csvProblem(file, err)}
	}
	var problems []Problem
	// skip marks the header's columns whose values cannot be checked: an
	// unknown column, or the second of a repeated one.
	skip := make([]bool, len(header))
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		switch {
		case !slices.Contains(t.Columns, name):
			problems = append(problems, Problem{file, 1, name, fmt.Sprintf("unknown column; %s takes %s", t.Kind, strings.Join(t.Columns, ", "))})
			skip[i] = true
		case slices.Contains(b.Columns, name):
			problems = append(problems, Problem{file, 1, name, "named twice"})
			skip[i] = true
		}
		b.Columns = append(b.Columns, name)
	}
	for _, name := range t.Required {
		if !slices.Contains(b.Columns, name) {
			problems = append(problems, Problem{file, 1, name, "required column missing"})
		}
	}
	consentCol, sourceCol := -1, -1
	if t.Kind == dowser.KindContacts {
		problems = append(problems, identityHeaderProblems(file, b.Columns)...)
		consentCol, sourceCol = columnIndex(b.Columns, skip, "identity_consent"), columnIndex(b.Columns, skip, "identity_consent_source")
	}
	firstLine := map[[2]string]int{} // (column, value) -> line, for unique columns
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A syntax error (a stray quote) leaves the rest unreadable.
			return b, append(problems, csvProblem(file, err))
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(b.Columns) {
			problems = append(problems, Problem{file, line, "", fmt.Sprintf("%d fields, but the header names %d columns", len(rec), len(b.Columns))})
			continue
		}
		row := make([]string, len(rec))
		for i, v := range rec {
			v = strings.TrimSpace(v)
			col := b.Columns[i]
			if skip[i] {
				row[i] = v
				continue
			}
			switch col {
			case "lifecycle":
				v = dowser.DefaultLifecycle(v)
			case "identity_consent":
				// Spreadsheets write TRUE and FALSE.
				v = strings.ToLower(v)
			}
			// The rule of that field which the records' Validate, and so
			// the REST API, apply, so that whatever one accepts the other
			// does. A row is checked column by column because it may carry
			// only some of a record's fields: on update, the others keep
			// their values.
			if fe := dowser.CheckField(t.Kind, col, v); fe != nil {
				problems = append(problems, Problem{file, line, col, fe.Reason})
			} else if (col == "id" || col == "token") && v != "" {
				key := [2]string{col, v}
				if prev, dup := firstLine[key]; dup {
					what := fmt.Sprintf("%q is also on line %d", v, prev)
					if col == "token" {
						what = fmt.Sprintf("same as line %d's", prev)
					}
					problems = append(problems, Problem{file, line, col, what})
				} else {
					firstLine[key] = line
				}
			}
			row[i] = v
		}
		if consentCol >= 0 && sourceCol >= 0 {
			if fe := dowser.CheckConsent(row[consentCol] == "true", row[sourceCol]); fe != nil {
				problems = append(problems, Problem{file, line, fe.Field, fe.Reason})
			}
		}
		b.Rows = append(b.Rows, row)
		b.Lines = append(b.Lines, line)
	}
	return b, problems
}

// identityHeaderProblems holds a contacts file to the consent rule: a
// person's identity is imported only with a column saying whether they
// consented, and a consent with a column saying where it was given.
func identityHeaderProblems(file string, columns []string) []Problem {
	var problems []Problem
	if !slices.Contains(columns, "identity_consent") {
		for _, c := range dowser.IdentityColumns() {
			if slices.Contains(columns, c) {
				problems = append(problems, Problem{file, 1, c, "needs an identity_consent column (true or false per row): a person's identity is kept only with their recorded consent"})
			}
		}
	} else if !slices.Contains(columns, "identity_consent_source") {
		problems = append(problems, Problem{file, 1, "identity_consent_source", "required column missing: a consent must say where it was given"})
	}
	return problems
}

// columnIndex is the index of the checked column name, -1 when absent.
func columnIndex(columns []string, skip []bool, name string) int {
	i := slices.Index(columns, name)
	if i >= 0 && skip[i] {
		return -1
	}
	return i
}

func csvProblem(file string, err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{file, pe.Line, "", "csv: " + pe.Err.Error()}
	}
	return Problem{file, 0, "", err.Error()}
}

// UserRoles looks up the roles of the enabled users among ids; an id that
// is no such user is absent from the map.
type UserRoles interface {
	UserRoles(ctx context.Context, ids []string) (map[string]dowser.Role, error)
}

// CheckOwners reports the rows whose owner is not a user, or is one whose
// role may not own a row of this kind (dowser.CheckOwner). An owner that
// is not a valid id is left out: Read reported it.
func (b *Batch) CheckOwners(ctx context.Context, users UserRoles) ([]Problem, error) {
	col := slices.Index(b.Columns, "owner")
	if col < 0 {
		return nil, nil
	}
	var owners []string
	for _, row := range b.Rows {
		if row[col] != "" && dowser.CheckID("owner", row[col]) == nil {
			owners = append(owners, row[col])
		}
	}
	roles, err := users.UserRoles(ctx, owners)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	for i, row := range b.Rows {
		if row[col] != "" && dowser.CheckID("owner", row[col]) != nil {
			continue
		}
		if fe := dowser.CheckOwner(b.Kind, "owner", row[col], roles[row[col]]); fe != nil {
			reason := fe.Reason
			if roles[row[col]] == "" {
				reason += "; import users first"
			}
			problems = append(problems, Problem{b.File, b.Lines[i], "owner", reason})
		}
	}
	return problems, nil
}

// SortProblems puts problems in line order, keeping the order of those on
// one line, so that problems found by several checks read as one list.
func SortProblems(p []Problem) {
	slices.SortStableFunc(p, func(a, b Problem) int { return a.Line - b.Line })
}
