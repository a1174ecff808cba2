package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/dowserhq/dowser/csvimport"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/postgres"
)

const importUsage = `Usage: dowser import users|accounts|contacts|content|do-not-track FILE.csv [--database-url URL]

Creates or updates the rows of a CSV file whose header row names the
columns, in any order (on update, columns not named keep their values):

  users     id, name, role (rep|marketer|manager|admin|source), token
  accounts  id, name, owner, lifecycle (prospect|customer), region, industry, size
  contacts  id (the customer id), owner, account_id, name, title, email,
            identity_consent (true|false), identity_consent_source: the
            identity is kept only on rows with consent (false deletes it)
  content   id, title, url_prefix, owner
  do-not-track  kind (customer|account), id: their events are dropped unseen

Required: id, and for users name and role. An owner must be a user already,
with a role that fits: a content owner is a marketer or admin, an account or
contact owner a rep or manager. Values follow the REST API's rules: ids of
letters, digits, _ . @ : - (at most 128), text without NUL, a content
url_prefix such as https://example.com/pricing.
Every row is checked first, in one pass (values and owners alike): every
problem is reported, in line order, as FILE:LINE: column: reason, and
nothing is imported (exit status 1). The rows are written in one
transaction: all of them or none.
`

// runImport runs `dowser import KIND FILE`.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("import")
	url := fs.String("database-url", "", "PostgreSQL URL (also read from DATABASE_URL)")
	pos, err := envflag.ParseWithFiles(fs, args, stderr, getenv)
	if errors.Is(err, envflag.ErrHelp) {
		fmt.Fprint(stderr, "\n"+importUsage)
	}
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fmt.Fprint(stderr, importUsage)
		return envflag.ErrUsage
	}
	kind, file := pos[0], pos[1]
	columns, required, ok := postgres.ImportColumns(kind)
	if !ok {
		fmt.Fprintf(stderr, "dowser import: unknown kind %q\n\n%s", kind, importUsage)
		return envflag.ErrUsage
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
	batch, problems := csvimport.Read(file, csvimport.Table{Kind: kind, Columns: columns, Required: required}, f)
	f.Close()
	report := func(problems []csvimport.Problem) error {
		csvimport.SortProblems(problems)
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return fmt.Errorf("%s in %s; nothing imported", plural(len(problems), "problem"), file)
	}
	if batch == nil {
		return report(problems)
	}

	store, err := openStore(ctx, *url)
	if err != nil {
		return err
	}
	defer store.Close()
	// Owners are checked even when values were refused, so that one run
	// names every problem of the file.
	owners, err := batch.CheckOwners(ctx, store.Directory)
	if err != nil {
		return err
	}
	if problems = append(problems, owners...); len(problems) > 0 {
		return report(problems)
	}
	n, err := store.Directory.Import(ctx, kind, batch.Columns, batch.Rows)
	var ie *postgres.ImportError
	if errors.As(err, &ie) {
		// Validation makes this rare (a token another user already has, a
		// row changed meanwhile): still name the line.
		return fmt.Errorf("%s:%d: %v; nothing imported", file, batch.Lines[ie.Row], ie.Err)
	}
	if err != nil {
		return fmt.Errorf("%v; nothing imported", err)
	}
	fmt.Fprintf(stdout, "imported %s from %s\n", plural(n, strings.TrimSuffix(kind, "s")), file)
	return nil
}

// plural counts n of a regular noun: "1 user", "2 users".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
