package validate

import (
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// metricRef is how cmd/dowser's TestEndToEndDeployFilesNameLiveMetrics
// finds the metrics these files name, to ask a running service for them.
// The tests here check, with the PromQL parser, that it finds them all.
var metricRef = regexp.MustCompile(`\bdowser_[a-z0-9_]+`)

// selected returns the metric names that expr selects.
func selected(t *testing.T, p parser.Parser, where, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// checkSelected checks that every metric expr selects is one that
// metricRef finds in expr, Prometheus's own `up`, or one of the Go and
// process collectors' (go_*, process_*), which every client exposes.
func checkSelected(t *testing.T, p parser.Parser, where, expr string) {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	for _, name := range selected(t, p, where, expr) {
		if name != "up" && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !slices.Contains(refs, name) {
			t.Errorf("%s: selects %q, which is not a dowser_* metric that the live /metrics test would look for", where, name)
		}
	}
}

// TestAlertRulesParse loads the rules the way Prometheus does (unknown
// fields, bad durations, bad templates and bad PromQL are errors).
func TestAlertRulesParse(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile("../prometheus/alerts.yaml", false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			where := "alerts.yaml: " + r.Alert
			if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: a rule without alert, labels.severity or annotations.summary", where)
			}
			checkSelected(t, p, where, r.Expr)
		}
	}
	if n == 0 {
		t.Error("alerts.yaml: no rules")
	}
}

// TestRulesWithMistakesFail shows that the loading above fails on the
// mistakes it is there for.
func TestRulesWithMistakesFail(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for name, rules := range map[string]string{
		"bad PromQL":    "groups: [{name: g, rules: [{alert: A, expr: 'sum(rate(x[5m])'}]}]",
		"unknown field": "groups: [{name: g, rules: [{alert: A, expr: 'up == 0', fro: 5m}]}]",
		"bad duration":  "groups: [{name: g, rules: [{alert: A, expr: 'up == 0', for: 5 minutes}]}]",
		"bad template":  "groups: [{name: g, rules: [{alert: A, expr: 'up == 0', annotations: {summary: '{{ $value '}}]}]",
	} {
		if _, errs := rulefmt.Parse([]byte(rules), false, model.UTF8Validation, p, slog.New(slog.DiscardHandler)); len(errs) == 0 {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// grafanaVariables are the dashboard variables Grafana replaces before a
// query reaches Prometheus, with values of the right type.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "1m", "${__rate_interval}", "1m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "1h", "${__range}", "1h",
)

// TestDashboardQueriesParse parses the PromQL of every panel of the
// Grafana dashboard.
func TestDashboardQueriesParse(t *testing.T) {
	b, err := os.ReadFile("../grafana/dashboards/dowser.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatal("dowser.json: no uid or no panels")
	}
	// The dashboard's own variables stand in label matchers: any string.
	pairs := []string{}
	for _, v := range dash.Templating.List {
		pairs = append(pairs, "${"+v.Name+"}", "x", "$"+v.Name, "x")
	}
	own := strings.NewReplacer(pairs...)
	p := parser.NewParser(parser.Options{})
	n := 0
	for _, panel := range dash.Panels {
		for _, tg := range panel.Targets {
			if tg.Expr == "" {
				continue
			}
			n++
			expr := own.Replace(grafanaVariables.Replace(tg.Expr))
			if strings.Contains(expr, "$") {
				t.Errorf("dowser.json: %s: %q uses a variable this test does not know", panel.Title, tg.Expr)
				continue
			}
			checkSelected(t, p, "dowser.json: "+panel.Title, expr)
		}
	}
	if n == 0 {
		t.Error("dowser.json: no PromQL targets")
	}
}
