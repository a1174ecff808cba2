package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/formats"
)

// DOWSER_SOURCE holds several sources separated by ";", as repeated
// --source flags do.
func TestSourceFlagFromEnvironment(t *testing.T) {
	var cfg serveConfig
	fs := envflag.NewFlagSet("serve")
	cfg.register(fs)
	env := map[string]string{"DOWSER_SOURCE": "format=segment ; topic=b,format=snowplow"}
	if err := envflag.Parse(fs, nil, &strings.Builder{}, func(k string) string { return env[k] }, nil); err != nil {
		t.Fatal(err)
	}
	if want := (formats.SourceList{"format=segment", "topic=b,format=snowplow"}); !reflect.DeepEqual(cfg.Sources, want) {
		t.Errorf("sources = %q, want %q", cfg.Sources, want)
	}
	fs = envflag.NewFlagSet("serve")
	cfg = serveConfig{}
	cfg.register(fs)
	if err := envflag.Parse(fs, []string{"--source", "format"}, &strings.Builder{}, func(string) string { return "" }, nil); err == nil {
		t.Error("--source format was accepted")
	}
}
