package validate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads a compose file as `docker compose config` does: the
// Compose specification's schema, interpolation, extensions and merge
// keys, and the consistency of services, volumes and dependencies.
func loadCompose(t *testing.T, path string, content []byte) (*types.Project, error) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, filepath.Base(path)), Content: content}},
		// Compose reads the token from the caller's environment or .env;
		// the file's default holds when neither sets it.
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("dowser", true)
		o.ResolvePaths = true
	})
}

func TestComposeLoads(t *testing.T) {
	const path = "../docker-compose.yaml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadCompose(t, path, b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	want := []string{"dowser-1", "dowser-2", "grafana", "kafka", "postgres", "prometheus"}
	if !slices.Equal(names, want) {
		t.Errorf("services %q, want %q", names, want)
	}
	for _, name := range []string{"dowser-1", "dowser-2"} {
		s := p.Services[name]
		if s.Build == nil {
			t.Errorf("%s: not built from deploy/Dockerfile", name)
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: build: %v", name, err)
		}
		if tok := s.Environment["DOWSER_ADMIN_TOKEN"]; tok == nil || len(*tok) < 20 {
			t.Errorf("%s: DOWSER_ADMIN_TOKEN interpolates to %v, want the file's default", name, tok)
		}
		for _, dep := range []string{"kafka", "postgres"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: does not wait for %s to be healthy", name, dep)
			}
		}
	}
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount %s: %v", name, v.Source, err)
				}
			}
		}
	}
}

// TestComposeLoaderRejectsMistakes shows that the loader above fails on
// mistakes that a YAML parser alone lets through.
func TestComposeLoaderRejectsMistakes(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"unknown service key": {"    hostname: kafka\n", "    hostnme: kafka\n"},
		"undeclared volume":   {"      - postgres-data:/var/lib/postgresql/data\n", "      - pg-data:/var/lib/postgresql/data\n"},
		"unknown dependency":  {"      - dowser-2\n", "      - dowser-3\n"},
	} {
		if !strings.Contains(string(b), edit[0]) {
			t.Fatalf("%s: docker-compose.yaml has no %q to change", name, edit[0])
		}
		broken := strings.Replace(string(b), edit[0], edit[1], 1)
		if _, err := loadCompose(t, "../docker-compose.yaml", []byte(broken)); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}
