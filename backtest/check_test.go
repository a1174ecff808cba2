package backtest

import (
	"strings"
	"testing"
)

func TestLintFilesCountsSignalsAndProblems(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "pricing.yaml", pricingSignal)
	bad := writeFile(t, dir, "bad.yaml", "id: Bad\n")
	var out strings.Builder
	if err := LintFiles(&out, good); err != nil || out.String() != "ok: 1 signal in 1 file\n" {
		t.Errorf("LintFiles(good) = %v, output %q", err, out.String())
	}
	out.Reset()
	err := LintFiles(&out, good, bad)
	if err == nil || !strings.HasSuffix(err.Error(), " problems in 1 file") || !strings.HasPrefix(out.String(), bad+": ") {
		t.Errorf("LintFiles(good, bad) = %v, output:\n%s", err, out.String())
	}
}

func TestTestFixturesReportsEachFixture(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pricing-research.yaml", pricingSignal)
	pass := writeFile(t, dir, "pass.yaml", "signals: [pricing-research.yaml]\n"+pricingEvents+
		"expect:\n  - {signal: pricing-research, subject: \"account:acme\", event_id: e3}\n")
	fail := writeFile(t, dir, "fail.yaml", "signals: [pricing-research.yaml]\n"+pricingEvents+"expect: []\n")
	var out strings.Builder
	err := TestFixtures(&out, true, pass, fail)
	want := "ok   " + pass + " (5 events, 1 alert)\n" +
		"       pricing-research account:acme at e3: acme: pricing viewed 3 times in 7 days\n" +
		"FAIL " + fail + "\n    "
	if err == nil || err.Error() != "1 of 2 fixtures failed" || !strings.HasPrefix(out.String(), want) {
		t.Errorf("TestFixtures = %v, output:\n%s\nwant it to start:\n%s", err, out.String(), want)
	}
}
