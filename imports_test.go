package dowser_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dowserhq/dowser"

// The two sentence forms a package doc uses to state its import rule, and
// the one that claims a third-party library for one package.
var (
	importsOnly = regexp.MustCompile(`It imports only: ([a-z0-9/, ]+)\.`)
	importsNone = regexp.MustCompile(`It imports no other Dowser package\.`)
	// A library path: the sentence's full stop is not part of it.
	claims = regexp.MustCompile(`the only package that imports ([\w.-]+/[\w./-]*\w)`)
	also   = regexp.MustCompile(`It also imports ([\w.-]+/[\w./-]*\w)`)
)

type pkgInfo struct {
	path    string   // import path
	doc     string   // package doc comment
	imports []string // imports of its non-test files
}

// TestImportRules holds every package to the import rule its doc comment
// states, so that the map in docs/architecture.md stays true. A package doc
// says "It imports only: a, b." (Dowser packages: dowser for this one,
// else the path below the module) or "It imports no other Dowser
// package."; commands under cmd/ wire everything and need neither. "It is
// the only package that imports LIB" claims a library; "It also imports
// LIB" is a documented exception. Test files are not held to the rules.
func TestImportRules(t *testing.T) {
	pkgs := loadPackages(t)
	claimed := map[string]string{} // library → the package that may import it
	for _, p := range pkgs {
		for _, m := range claims.FindAllStringSubmatch(flat(p.doc), -1) {
			if prev, ok := claimed[m[1]]; ok {
				t.Errorf("%s and %s both claim to be the only importer of %s", prev, p.path, m[1])
			}
			claimed[m[1]] = p.path
		}
	}
	for _, p := range pkgs {
		doc := flat(p.doc)
		var allowed []string
		switch m := importsOnly.FindStringSubmatch(doc); {
		case m != nil:
			for _, name := range strings.Split(m[1], ",") {
				allowed = append(allowed, pathOf(strings.TrimSpace(name)))
			}
		case importsNone.MatchString(doc):
		case strings.HasPrefix(p.path, module+"/cmd/"):
			continue // commands wire everything
		default:
			t.Errorf("%s: its package doc states no import rule (\"It imports only: a, b.\" or \"It imports no other Dowser package.\")", p.path)
			continue
		}
		var excepted []string
		for _, m := range also.FindAllStringSubmatch(doc, -1) {
			excepted = append(excepted, m[1])
		}
		for _, imp := range p.imports {
			if (imp == module || strings.HasPrefix(imp, module+"/")) && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which its package doc does not allow", p.path, imp)
			}
			for lib, owner := range claimed {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && owner != p.path && !slices.Contains(excepted, lib) {
					t.Errorf("%s imports %s, which only %s may import", p.path, imp, owner)
				}
			}
		}
	}
}

// pathOf turns a name of the rule ("dowser", "schema", "postgres/pgtest")
// into an import path.
func pathOf(name string) string {
	if name == "dowser" {
		return module
	}
	return module + "/" + name
}

func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// loadPackages parses the imports and doc comments of every package of the
// module, test files aside.
func loadPackages(t *testing.T) []pkgInfo {
	t.Helper()
	byDir := map[string]*pkgInfo{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir // a module of its own (deploy/validate), with its own rules
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		p := byDir[dir]
		if p == nil {
			p = &pkgInfo{path: pathOf(filepath.ToSlash(dir))}
			if dir == "." {
				p.path = module
			}
			byDir[dir] = p
		}
		if f.Doc != nil {
			p.doc += f.Doc.Text()
		}
		for _, imp := range f.Imports {
			p.imports = append(p.imports, importPath(imp))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(byDir) < 5 {
		t.Fatalf("found %d packages; run from the module root", len(byDir))
	}
	out := make([]pkgInfo, 0, len(byDir))
	for _, p := range byDir {
		out = append(out, *p)
	}
	return out
}

func importPath(s *ast.ImportSpec) string { return strings.Trim(s.Path.Value, `"`) }
