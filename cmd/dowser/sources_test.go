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

// A source topic that is one of Dowser's own, or a topic described twice,
// is refused before anything starts.
func TestServeRefusesSourceTopicsItCannotRead(t *testing.T) {
	for _, c := range []struct {
		sources formats.SourceList
		want    string
	}{
		{formats.SourceList{"topic=dowser.events.dlq,format=segment"}, `source topic "dowser.events.dlq" is one of Dowser's own topics`},
		{formats.SourceList{"topic=dowser.events.resolved,format=segment"}, `source topic "dowser.events.resolved" is one of Dowser's own topics`},
		{formats.SourceList{"topic=dowser.alerts,format=segment"}, `source topic "dowser.alerts" is one of Dowser's own topics`},
		{formats.SourceList{"topic=web,format=segment", "topic=web,format=snowplow"}, `source topic "web" is described twice`},
	} {
		cfg := serveConfig{DatabaseURL: "postgres://unused", EventsTopic: "dowser.events", AlertsTopic: "dowser.alerts", Partitions: 1, Sources: c.sources}
		if _, err := newApp(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sources %q: error %v, want %q", c.sources, err, c.want)
		}
	}
}
